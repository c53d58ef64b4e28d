//go:build amd64 || arm64

package gid

// Fast reports whether G works on this architecture.
const Fast = true

// G is the running goroutine's identity (its g's address).
func G() uintptr
