// Package transfermanager holds the tests of the encryption client under
// the SDK's transfer manager (github.com/aws/aws-sdk-go-v2/feature/s3/
// transfermanager), in a module of its own so that neither the library's
// go.mod nor the client suite's carries the transfer manager.
package transfermanager
