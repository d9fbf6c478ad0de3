// compose-config loads a Compose file the way `docker compose config` does
// (compose-go, the loader Docker Compose itself uses: the Compose
// specification's JSON Schema, interpolation from the environment, merge keys
// and extensions) and prints the resolved project as JSON. It needs no Docker
// engine. Exit status 1 with the loader's message when the file is invalid.
//
//	compose-config path/to/compose.yaml
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-config <compose file>")
		os.Exit(2)
	}
	// The options docker compose itself passes: the environment, then a .env beside the file.
	options, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv, cli.WithEnvFiles(), cli.WithDotEnv)
	if err != nil {
		fail(err)
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out, err := project.MarshalJSON()
	if err != nil {
		fail(err)
	}
	os.Stdout.Write(append(out, '\n'))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}
