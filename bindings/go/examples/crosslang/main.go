// crosslang: deferreds from C and Go in one C DeferredList.  A C thread-pool
// job computes fib(90) in C, a C timer fires after 50 ms, and a Go goroutine
// (DeferToThread) returns a Go struct; the list, made by C, fires on the
// reactor with all three, and the Go struct comes back as the same pointer.
package main

/*
#cgo pkg-config: deferred
#include <deferred.h>

static dfr_value c_fib(void *data)
{
    (void)data;
    int64_t a = 0, b = 1;
    for (int i = 0; i < 90; i++) { int64_t t = a + b; a = b; b = t; }
    return dfr_i64(a);
}

static dfr_value c_hello(void *data) { (void)data; return dfr_bytes_new("hello from a C timer", 20); }

// A DeferredList of a C pool job, a C timer and go_d (made in Go).
static dfr_deferred *c_combine(dfr_reactor *r, dfr_deferred *go_d)
{
    dfr_deferred *ds[3] = {dfr_reactor_defer_to_thread(r, c_fib, NULL, NULL),
                           dfr_reactor_defer_later(r, 0.05, c_hello, NULL, NULL), go_d};
    dfr_deferred *l = (ds[0] && ds[1]) ? dfr_deferred_list(ds, 3, 0) : NULL;
    dfr_deferred_unref(ds[0]);
    dfr_deferred_unref(ds[1]);
    return l;
}
*/
import "C"

import (
	"fmt"
	"unsafe"

	deferred "github.com/libdeferred/libdeferred/bindings/go"
)

type report struct{ who string }

func main() {
	r, err := deferred.NewReactor(nil)
	if err != nil {
		panic(err)
	}
	mine := &report{"a Go struct from a goroutine"}
	err = r.Call(func() {
		goD, err := deferred.DeferToThread(r, func() (*report, error) { return mine, nil })
		if err != nil {
			panic(err)
		}
		p := C.c_combine((*C.dfr_reactor)(r.C()), (*C.dfr_deferred)(goD.C()))
		if p == nil {
			panic("c_combine failed")
		}
		list := deferred.WrapC(r, unsafe.Pointer(p))
		C.dfr_deferred_unref(p)
		deferred.Then(list, func(es deferred.Entries) (any, error) {
			fmt.Println("C pool job:", es[0].Value)
			fmt.Println("C timer:   ", string(es[1].Value.([]byte)))
			fmt.Println("Go:        ", es[2].Value.(*report).who, "- same pointer:", es[2].Value == mine)
			return nil, r.Stop()
		})
	})
	if err != nil {
		panic(err)
	}
	if err := r.Run(); err != nil {
		panic(err)
	}
	r.Free()
}
