// Command apiguard protects HTTP APIs against the OWASP API Security Top 10.
package main

import (
	"context"
	"os"

	"github.com/apiguard/apiguard/internal/cli"
)

func main() {
	os.Exit(cli.Run(context.Background()))
}
