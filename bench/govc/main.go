// Command govc is govmomi's own govc CLI, limited to the commands the
// harness uses (datastore.download): the same command code as the release
// binary, built from the govmomi version in go.mod, because govmomi
// v0.56.0's module holds the commands (cli/...) but not govc's main.
package main

import (
	"os"

	"github.com/vmware/govmomi/cli"
	_ "github.com/vmware/govmomi/cli/datastore"
)

func main() { os.Exit(cli.Run(os.Args[1:])) }
