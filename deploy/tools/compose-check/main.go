// compose-check validates a Compose file as `docker compose config` does, without Docker: it loads
// the file with compose-go, the Compose specification's reference loader (the one `docker compose`
// itself is built on), with the JSON-schema validation and the consistency checks on (depends_on,
// volumes and networks that exist, an image or a build for every service, ...).
//
//	compose-check [-json] [-e NAME=VALUE]... [-profile NAME]... FILE
//
// Services behind a profile (`profiles: [ops]`) are checked whole only when the profile is given,
// as `docker compose --profile ops config` does; without it they are left out of the project.
// Variables are interpolated from the defaults the file gives (`${VAR:-default}`) and the -e
// options, not from the caller's environment, so that the result is the same on every machine.
// Exits 1 with the loader's error when the file is invalid; with -json, prints the normalized
// project on stdout (what `docker compose config --format json` prints).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

// variables collects the -e NAME=VALUE options.
type variables []string

func (v *variables) String() string { return strings.Join(*v, ",") }

func (v *variables) Set(value string) error {
	if !strings.Contains(value, "=") {
		return fmt.Errorf("%q is not NAME=VALUE", value)
	}
	*v = append(*v, value)
	return nil
}

// names collects the -profile options.
type names []string

func (n *names) String() string { return strings.Join(*n, ",") }

func (n *names) Set(value string) error {
	if value == "" {
		return fmt.Errorf("a profile needs a name")
	}
	*n = append(*n, value)
	return nil
}

func main() {
	asJSON := flag.Bool("json", false, "print the normalized project as JSON")
	var env variables
	flag.Var(&env, "e", "set a variable for the interpolation, NAME=VALUE (repeatable)")
	var profiles names
	flag.Var(&profiles, "profile", "enable the services of a profile (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: compose-check [-json] [-e NAME=VALUE]... [-profile NAME]... FILE")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := check(flag.Arg(0), env, profiles, *asJSON); err != nil {
		fmt.Fprintf(os.Stderr, "compose-check: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

func check(file string, env []string, profiles []string, asJSON bool) error {
	path, err := filepath.Abs(file)
	if err != nil {
		return err
	}
	options, err := cli.NewProjectOptions([]string{path},
		cli.WithWorkingDirectory(filepath.Dir(path)),
		cli.WithEnv(env),
		cli.WithProfiles(profiles),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		return err
	}
	project, err := options.LoadProject(context.Background())
	if err != nil {
		return err
	}
	if !asJSON {
		return nil
	}
	out, err := project.MarshalJSON()
	if err != nil {
		return err
	}
	_, err = fmt.Println(string(out))
	return err
}
