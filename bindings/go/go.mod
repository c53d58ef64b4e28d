module github.com/libdeferred/libdeferred/bindings/go

go 1.24
