package bulk

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
)

// Shard keeps the tasks of m that belong to shard k of n (k in [0, n)): a
// task belongs to shard FNV-1a(bucket, key, version id) mod n. The n shards
// of one manifest are pairwise disjoint and together hold every task
// exactly once. The split hashes the object's name rather than its
// position so that it does not depend on the manifest's order: workers
// that each list a prefix (at different moments) or read an inventory
// whose files come in another order still agree on which of them owns each
// object. Seq keeps the task's position in m. Shard(m, 0, 1) is m. n < 1
// or k outside [0, n) makes Next fail.
func Shard(m Manifest, k, n int) Manifest {
	if n == 1 && k == 0 {
		return m
	}
	return &shard{m: m, k: k, n: n}
}

type shard struct {
	m    Manifest
	k, n int
}

func (s *shard) Next(ctx context.Context) (Task, error) {
	if s.n < 1 || s.k < 0 || s.k >= s.n {
		return Task{}, fmt.Errorf("bulk: shard %d/%d: want 0 <= K < N", s.k, s.n)
	}
	for {
		t, err := s.m.Next(ctx)
		if err != nil {
			return t, err
		}
		if ShardOf(t, s.n) == s.k {
			return t, nil
		}
	}
}

func (s *shard) Close() error { return s.m.Close() }

// ShardOf returns the shard in [0, n) that t belongs to among n (see
// Shard). n must be at least 1.
func ShardOf(t Task, n int) int {
	h := fnv.New64a()
	// Length-prefixed so that ("a/b", "c") and ("a", "b/c") differ.
	for _, s := range [...]string{t.Bucket, t.Key, t.VersionId} {
		var l [8]byte
		for i := range l {
			l[i] = byte(uint64(len(s)) >> (8 * i))
		}
		h.Write(l[:])
		io.WriteString(h, s)
	}
	return int(h.Sum64() % uint64(n))
}

// Skip drops the tasks of m with Seq <= afterSeq: a rerun from
// Summary.Watermark. Skip(m, -1) is m.
func Skip(m Manifest, afterSeq int64) Manifest {
	if afterSeq < 0 {
		return m
	}
	return &skip{m: m, after: afterSeq}
}

type skip struct {
	m     Manifest
	after int64
}

func (s *skip) Next(ctx context.Context) (Task, error) {
	for {
		t, err := s.m.Next(ctx)
		if err != nil || t.Seq > s.after {
			return t, err
		}
	}
}

func (s *skip) Close() error { return s.m.Close() }
