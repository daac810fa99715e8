// Package cbcstream decrypts legacy AES-CBC/PKCS#7 object bodies (the
// S3EC V1 "AES/CBC/PKCS5Padding" content) as a stream, in constant memory.
//
// CBC provides no integrity: the plaintext it releases is unauthenticated
// by nature, and anyone who can change the stored object can change it.
// This package exists only to read old objects; nothing here encrypts.
package cbcstream
