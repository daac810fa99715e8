package encryptionclient

import "context"

// WithTestPartLimits lowers Upload's part limits (minimum part size,
// maximum part count) for servers that accept small parts.
func WithTestPartLimits(minPart int64, maxParts int) func(*UploadOptions) {
	return func(o *UploadOptions) { o.limits = partLimits{minPart: minPart, maxParts: maxParts} }
}

// ContextWithTestPartLimits does the same for CreateMultipartUpload and
// UploadPart.
func ContextWithTestPartLimits(ctx context.Context, minPart int64, maxParts int) context.Context {
	return context.WithValue(ctx, partLimitsKey{}, partLimits{minPart: minPart, maxParts: maxParts})
}
