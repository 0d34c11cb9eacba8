// Command etcd runs upstream etcd's server entry point (test infrastructure wrapper).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
