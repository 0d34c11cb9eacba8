// cleanup-helper: test infrastructure of the local e2e cluster with the command line of the
// reference operator's helper image (`/cleanup-helper -dir=<dir>`): removes everything inside
// dir (the host-path state of one deleted AIStore, mounted at the same path).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "", "directory whose contents to remove")
	flag.Parse()
	if *dir == "" || *dir == "/" {
		fmt.Fprintln(os.Stderr, "cleanup-helper: -dir must name a directory other than /")
		os.Exit(2)
	}
	entries, err := os.ReadDir(*dir)
	if err != nil {
		if os.IsNotExist(err) {
			return
		}
		fmt.Fprintln(os.Stderr, "cleanup-helper:", err)
		os.Exit(1)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(*dir, e.Name())); err != nil {
			fmt.Fprintln(os.Stderr, "cleanup-helper:", err)
			os.Exit(1)
		}
	}
	fmt.Printf("cleanup-helper: removed %d entries from %s\n", len(entries), *dir)
}
