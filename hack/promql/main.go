// Command promql-check parses PromQL expressions, one JSON string per line on stdin, and prints one line per
// expression: "ok" or the parser's error. It exits 1 when any expression does not parse.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

func main() {
	failed := false
	promql := parser.NewParser(parser.Options{})
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1024*1024), 1024*1024)
	for scanner.Scan() {
		var expr string
		if err := json.Unmarshal(scanner.Bytes(), &expr); err != nil {
			fmt.Printf("error: not a JSON string: %v\n", err)
			failed = true
			continue
		}
		if _, err := promql.ParseExpr(expr); err != nil {
			fmt.Printf("error: %v\n", err)
			failed = true
			continue
		}
		fmt.Println("ok")
	}
	if failed {
		os.Exit(1)
	}
}
