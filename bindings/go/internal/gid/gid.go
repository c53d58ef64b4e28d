// Package gid tells goroutines apart cheaply: G is the address of the
// running goroutine's runtime record, which stays the same for its whole life
// and is never shared by two live goroutines.  The binding uses it for its
// owner checks (a call into C to read the thread id costs more than the work
// it guards).  Where Fast is false, G is 0 and the caller must check another
// way.
package gid
