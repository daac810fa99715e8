package batchops

import (
	"regexp"
	"strings"
)

// regionPartitions maps the regions of each AWS partition to the
// partition's name, the first field after "arn:" of its ARNs. The
// patterns are those of the AWS SDK's partition data (partitions.json);
// the more specific ones come first, so that no region matches a pattern
// of another partition by accident.
var regionPartitions = []struct {
	partition string
	region    *regexp.Regexp
}{
	{"aws-us-gov", regexp.MustCompile(`^us-gov-[a-z]+-[0-9]+$`)},
	{"aws-iso", regexp.MustCompile(`^us-iso-[a-z]+-[0-9]+$`)},
	{"aws-iso-b", regexp.MustCompile(`^us-isob-[a-z]+-[0-9]+$`)},
	{"aws-iso-e", regexp.MustCompile(`^eu-isoe-[a-z]+-[0-9]+$`)},
	{"aws-iso-f", regexp.MustCompile(`^us-isof-[a-z]+-[0-9]+$`)},
	{"aws-eusc", regexp.MustCompile(`^eusc-de-[a-z]+-[0-9]+$`)},
	{"aws-cn", regexp.MustCompile(`^cn-[a-z]+-[0-9]+$`)},
	{"aws", regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx)-[a-z]+-[0-9]+$`)},
}

// partitionOf returns the AWS partition of region (aws for us-east-1,
// aws-cn for cn-north-1, aws-us-gov for us-gov-west-1, ...), or "" for a
// region of no known partition (empty, a local name, a new partition).
// Unlike the SDK, which falls back to aws, it does not guess: a caller
// that must compare partitions refuses what it cannot place.
func partitionOf(region string) string {
	region = strings.ToLower(strings.TrimSpace(region))
	// The SDK's FIPS pseudo-regions (fips-us-gov-west-1,
	// us-east-1-fips) are in the partition of their region.
	region = strings.TrimSuffix(strings.TrimPrefix(region, "fips-"), "-fips")
	for _, p := range regionPartitions {
		if p.region.MatchString(region) {
			return p.partition
		}
	}
	return ""
}
