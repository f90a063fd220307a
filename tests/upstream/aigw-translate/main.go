// Go glue for scripts/upstream.sh aigw-translate: copied next to upstream's cmd/aigw/translate.go
// (ai-gateway v1.1.0, unchanged) and built with it. Not part of the Rust crate.
package main

import (
	"context"
	"fmt"
	"os"
)

// main: what `aigw translate FILE...` did; translate.go is upstream's, unchanged.
func main() {
	if err := translate(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
