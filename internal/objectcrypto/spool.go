package objectcrypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/s3ec/s3ec-go/envelope"
	"github.com/s3ec/s3ec-go/internal/engine/gcmstream"
	"github.com/s3ec/s3ec-go/internal/engine/streamio"
)

// Spool is where SpooledReader keeps a body's ciphertext: written once
// from the start, then read back. The client's is a temporary file; its
// errors come back as they are.
type Spool interface {
	io.Writer
	io.ReaderAt
}

// spoolPieces are the buffers SpooledReader reads the body through.
var spoolPieces = sync.Pool{New: func() any { return new([readPiece]byte) }}

// SpooledReader authenticates a GCM body too large to hold in memory: it
// copies the ciphertext to spool, hashing it as it goes, and verifies the
// tag before it returns. The reader it returns then decrypts from the
// spool as it is read, so plaintext exists only in the caller's Read
// buffers, and only after the tag verified; the spool only ever holds
// ciphertext (the tag is kept in memory).
//
// size is the body's length, ciphertext and tag, which the body must have
// exactly: a body that goes on fails with [ErrTooLarge] as soon as it
// does, one that ends sooner with [ErrTruncated]; nothing beyond size
// bytes is written to the spool. On any error nothing is returned.
//
// The reader verifies the tag a second time, over what it reads back, so
// that a spool changed after the first verification fails its final Read
// with [envelope.ErrAuthentication] (the bytes before were released: the
// spool is trusted like the process's memory, see SECURITY.md). Its Close
// does not close the spool.
func (o *Opener) SpooledReader(body io.Reader, size int64, spool Spool) (io.ReadCloser, error) {
	if o.gcm == nil {
		return nil, errors.New("objectcrypto: only GCM objects are spooled (CBC has no tag to verify)")
	}
	if size < envelope.TagSize {
		return nil, envelope.ErrAuthentication
	}
	if size > gcmstream.MaxPlaintextSize+envelope.TagSize {
		return nil, fmt.Errorf("%w: body of %d bytes exceeds the GCM limit and its tag", ErrTooLarge, size)
	}
	part, err := o.gcm.Part(0)
	if err != nil {
		return nil, err
	}
	defer part.Wipe()
	ctLen := size - envelope.TagSize
	tag, err := spoolAndHash(body, ctLen, spool, part)
	if err != nil {
		return nil, err
	}
	if err := o.gcm.Verify(tag[:], part.Sum()); err != nil {
		return nil, envelope.ErrAuthentication
	}
	src := io.MultiReader(io.NewSectionReader(spool, 0, ctLen), bytes.NewReader(tag[:]))
	return o.gcm.UnverifiedDecryptReader(src), nil
}

// spoolAndHash copies the first ctLen bytes of body to spool, hashing them,
// and returns the 16 bytes after them, the tag; the body must end there.
func spoolAndHash(body io.Reader, ctLen int64, spool Spool, part *gcmstream.Part) (tag [envelope.TagSize]byte, err error) {
	piece := spoolPieces.Get().(*[readPiece]byte)
	defer spoolPieces.Put(piece)
	for left := ctLen; left > 0; {
		n, rerr := streamio.ReadFull(body, piece[:min(left, readPiece)])
		if n > 0 {
			part.Hash(piece[:n])
			if _, err := spool.Write(piece[:n]); err != nil {
				return tag, err
			}
			left -= int64(n)
		}
		switch {
		case rerr == io.EOF && left > 0:
			return tag, fmt.Errorf("%w: the body ended %d bytes before its tag", ErrTruncated, left+envelope.TagSize)
		case rerr != nil && rerr != io.EOF:
			return tag, rerr
		}
	}
	n, rerr := streamio.ReadFull(body, tag[:])
	switch {
	case n < envelope.TagSize && (rerr == io.EOF || rerr == nil):
		return tag, fmt.Errorf("%w: the body ended %d bytes before its end", ErrTruncated, envelope.TagSize-n)
	case rerr != nil && rerr != io.EOF:
		return tag, rerr
	}
	var one [1]byte
	switch k, rerr := streamio.ReadFull(body, one[:]); {
	case k > 0:
		return tag, fmt.Errorf("%w: the body goes on past its %d bytes", ErrTooLarge, ctLen+envelope.TagSize)
	case rerr != io.EOF:
		return tag, rerr
	}
	return tag, nil
}
