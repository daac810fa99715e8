package gcmstream

// kernelPath names a family of assembly kernels for the bulk work (CTR
// and GHASH). Higher values are wider registers and faster where they run.
type kernelPath int8

const (
	// pathStdlib: no kernels; the stdlib (the Go Cryptographic Module)
	// does all the work.
	pathStdlib kernelPath = iota
	// pathXMM: AES-NI and PCLMULQDQ on 128-bit registers, CTR and GHASH
	// stitched into one pass (ctr128_amd64.s, gcm128_amd64.s).
	pathXMM
	// pathYMM: VAES and VPCLMULQDQ on 256-bit registers (ctr256_amd64.s).
	pathYMM
	// pathZMM: VAES and VPCLMULQDQ on 512-bit registers (ctr_amd64.s,
	// ghash_amd64.s).
	pathZMM
)

func (k kernelPath) String() string {
	switch k {
	case pathXMM:
		return "xmm"
	case pathYMM:
		return "ymm"
	case pathZMM:
		return "zmm"
	}
	return "stdlib"
}

// kernel is the family New sets up and the kernels dispatch on: the best
// this CPU supports (bestKernel, from feature detection). Only the
// package's tests and benchmarks change it, and only to a lower family,
// to run every path on one machine; nothing outside this package can
// reach it.
var kernel = bestKernel

// hasKernels reports whether New sets up kernels for new messages.
func hasKernels() bool { return kernel != pathStdlib }
