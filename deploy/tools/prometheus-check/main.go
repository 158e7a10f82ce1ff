// prometheus-check validates Prometheus files as Prometheus itself loads them, without running it:
// a configuration with the loader of `prometheus --config.file` (and `promtool check config`),
// and rule files with the loader of `rule_files` (and `promtool check rules`), which parses
// every expression with PromQL's own parser and every template of the annotations.
//
//	prometheus-check [-config FILE]... [RULES_FILE]...
//
// Built against the Prometheus release docker-compose.yml runs (prom/prometheus:v3.7.3 is the
// Go module v0.307.3). Exits 1 naming the file, the rule and the error when one is invalid.
package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/rulefmt"
)

// files collects the repeatable -config option.
type files []string

func (f *files) String() string { return strings.Join(*f, ",") }

func (f *files) Set(value string) error {
	*f = append(*f, value)
	return nil
}

func main() {
	var configs files
	flag.Var(&configs, "config", "a Prometheus configuration file (repeatable)")
	flag.Parse()
	if len(configs) == 0 && flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: prometheus-check [-config FILE]... [RULES_FILE]...")
		os.Exit(2)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	failed := false
	for _, path := range configs {
		if _, err := config.LoadFile(path, false, quiet); err != nil {
			fmt.Fprintln(os.Stderr, err) // it names the file
			failed = true
		}
	}
	for _, path := range flag.Args() {
		_, errs := rulefmt.ParseFile(path, false, model.UTF8Validation)
		for _, err := range errs {
			fmt.Fprintln(os.Stderr, err) // it names the file, the group and the rule
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
