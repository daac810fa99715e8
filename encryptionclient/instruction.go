package encryptionclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/s3ec/s3ec-go/envelope"
)

// maxInstructionFile bounds what is read of an instruction file: a real one
// is well under 4 KiB.
const maxInstructionFile = 64 << 10

// putInstructionFile stores the instruction file of the object in, with
// the object's server-side encryption, access and storage settings.
func (c *Client) putInstructionFile(ctx context.Context, in *s3.PutObjectInput, body []byte, optFns []func(*s3.Options)) error {
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket:                  in.Bucket,
		Key:                     aws.String(aws.ToString(in.Key) + c.suffix(ctx)),
		Body:                    bytes.NewReader(body),
		ContentLength:           aws.Int64(int64(len(body))),
		ContentType:             aws.String("application/json"),
		Metadata:                map[string]string{envelope.KeyInstrFileMark: ""},
		ACL:                     in.ACL,
		GrantFullControl:        in.GrantFullControl,
		GrantRead:               in.GrantRead,
		GrantReadACP:            in.GrantReadACP,
		GrantWriteACP:           in.GrantWriteACP,
		StorageClass:            in.StorageClass,
		ExpectedBucketOwner:     in.ExpectedBucketOwner,
		RequestPayer:            in.RequestPayer,
		ServerSideEncryption:    in.ServerSideEncryption,
		SSEKMSKeyId:             in.SSEKMSKeyId,
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext,
		BucketKeyEnabled:        in.BucketKeyEnabled,
		SSECustomerAlgorithm:    in.SSECustomerAlgorithm,
		SSECustomerKey:          in.SSECustomerKey,
		SSECustomerKeyMD5:       in.SSECustomerKeyMD5,
	}, optFns...)
	if err != nil {
		return fmt.Errorf("write instruction file: %w", err)
	}
	return nil
}

// objectRef addresses an object and carries what reading it needs.
type objectRef struct {
	bucket, key, versionID *string
	sseAlg, sseKey, sseMD5 *string
	owner                  *string
	payer                  types.RequestPayer
}

// getInstructionFile reads the instruction file of ref; it returns nil and
// no error when there is none.
func (c *Client) getInstructionFile(ctx context.Context, ref objectRef, optFns []func(*s3.Options)) ([]byte, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{
		Bucket:               ref.bucket,
		Key:                  aws.String(aws.ToString(ref.key) + c.suffix(ctx)),
		SSECustomerAlgorithm: ref.sseAlg,
		SSECustomerKey:       ref.sseKey,
		SSECustomerKeyMD5:    ref.sseMD5,
		ExpectedBucketOwner:  ref.owner,
		RequestPayer:         ref.payer,
	}, optFns...)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read instruction file: %w", err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxInstructionFile+1))
	if err != nil {
		return nil, fmt.Errorf("read instruction file: %w", err)
	}
	if len(b) > maxInstructionFile {
		return nil, &envelope.MalformedError{Field: "instruction file", Reason: "larger than 64 KiB"}
	}
	return b, nil
}

// loadEnvelope decodes the envelope of an object from its metadata, reading
// the instruction file when the metadata does not hold the wrapped key.
func (c *Client) loadEnvelope(ctx context.Context, ref objectRef, meta map[string]string, optFns []func(*s3.Options)) (*envelope.Envelope, error) {
	layout, err := envelope.Detect(meta)
	if err != nil {
		return nil, err
	}
	var instr []byte
	if layout != envelope.LayoutObject {
		if instr, err = c.getInstructionFile(ctx, ref, optFns); err != nil {
			return nil, err
		}
	}
	return envelope.Decode(meta, instr)
}

// isNotFound reports an S3 404.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound") {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == 404
}
