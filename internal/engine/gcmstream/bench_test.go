package gcmstream

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

const benchSize = 64 << 20

var bench struct {
	once   sync.Once
	key    []byte
	nonce  []byte
	aad    []byte
	pt, ct []byte
}

func benchData(b *testing.B) {
	bench.once.Do(func() {
		bench.key = bytes.Repeat([]byte{0x42}, 32)
		bench.nonce = bytes.Repeat([]byte{0x24}, 12)
		bench.aad = []byte{0x00, 0x73}
		bench.pt = make([]byte, benchSize)
		for i := range bench.pt {
			bench.pt[i] = byte(i * 7)
		}
		bench.ct = stdAEAD(b, bench.key).Seal(nil, bench.nonce, bench.pt, bench.aad)
	})
}

// benchPaired runs op b.N times on the 64 MiB message and reports its speed
// relative to the stdlib one-shot Seal of the same message ("x-stdlib",
// higher is faster) and, for decryption, to Open ("x-open"). The machines
// are shared and noisy, so the baselines are not measured once: every
// iteration also runs one Seal (and Open), with the benchmark timer
// stopped, before op in even iterations and after it in odd ones, and the
// ratios compare the sums. Slow phases then weigh on both sides alike.
// The kernel family is the CPU's best unless GCMSTREAM_KERNEL forces
// another (kernelFromEnv); the stdlib runs under the same GODEBUG.
func benchPaired(b *testing.B, decrypt bool, op func()) {
	benchData(b)
	kernelFromEnv(b)
	aead := stdAEAD(b, bench.key)
	sealed := make([]byte, 0, len(bench.ct))
	opened := make([]byte, 0, len(bench.pt))
	b.SetBytes(benchSize)
	b.ReportAllocs()
	var seal, open time.Duration
	baselines := func() {
		start := time.Now()
		aead.Seal(sealed[:0], bench.nonce, bench.pt, bench.aad)
		seal += time.Since(start)
		if decrypt {
			start = time.Now()
			if _, err := aead.Open(opened[:0], bench.nonce, bench.ct, bench.aad); err != nil {
				b.Fatal(err)
			}
			open += time.Since(start)
		}
	}
	// One untimed round of each to warm caches, pages and pools.
	baselines()
	op()
	seal, open = 0, 0
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		if i%2 == 0 {
			baselines()
		}
		b.StartTimer()
		op()
		b.StopTimer()
		if i%2 == 1 {
			baselines()
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(seal)/float64(b.Elapsed()), "x-stdlib")
	if decrypt {
		b.ReportMetric(float64(open)/float64(b.Elapsed()), "x-open")
	}
}

// drain reads r to the end with buf and discards the data.
func drain(b *testing.B, r io.Reader, buf []byte) {
	for {
		_, err := r.Read(buf)
		if err == io.EOF {
			return
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGCM64MiB(b *testing.B) {
	b.Run("stdlib-seal", func(b *testing.B) {
		benchData(b)
		aead := stdAEAD(b, bench.key)
		dst := make([]byte, 0, len(bench.ct))
		benchPaired(b, false, func() {
			aead.Seal(dst[:0], bench.nonce, bench.pt, bench.aad)
		})
	})
	b.Run("stdlib-open", func(b *testing.B) {
		benchData(b)
		aead := stdAEAD(b, bench.key)
		dst := make([]byte, 0, len(bench.pt))
		benchPaired(b, true, func() {
			if _, err := aead.Open(dst[:0], bench.nonce, bench.ct, bench.aad); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("stream-encrypt", func(b *testing.B) {
		buf := make([]byte, bufSize)
		src := bytes.NewReader(nil)
		benchPaired(b, false, func() {
			src.Reset(bench.pt)
			c, _ := New(bench.key, bench.nonce, bench.aad)
			drain(b, c.EncryptReader(src), buf)
		})
	})
	b.Run("stream-decrypt", func(b *testing.B) {
		buf := make([]byte, bufSize)
		src := bytes.NewReader(nil)
		benchPaired(b, true, func() {
			src.Reset(bench.ct)
			c, _ := New(bench.key, bench.nonce, bench.aad)
			drain(b, c.UnverifiedDecryptReader(src), buf)
		})
	})
	b.Run("part-encrypt-1", func(b *testing.B) {
		dst := make([]byte, benchSize)
		benchPaired(b, false, func() {
			c, _ := New(bench.key, bench.nonce, bench.aad)
			p, _ := c.Part(0)
			p.Encrypt(dst, bench.pt)
			if _, err := c.Tag(p.Sum()); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("parallel-encrypt-2", func(b *testing.B) {
		dst := make([]byte, benchSize)
		const half = benchSize / 2
		var sums [2]PartSum
		var wg sync.WaitGroup
		benchPaired(b, false, func() {
			c, _ := New(bench.key, bench.nonce, bench.aad)
			wg.Add(2)
			for i := range 2 {
				go func() {
					defer wg.Done()
					p, _ := c.Part(int64(i * half))
					p.Encrypt(dst[i*half:(i+1)*half], bench.pt[i*half:(i+1)*half])
					sums[i] = p.Sum()
				}()
			}
			wg.Wait()
			if _, err := c.Tag(sums[:]...); err != nil {
				b.Fatal(err)
			}
		})
	})
}
