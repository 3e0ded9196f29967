package app

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestHelpPerBinary(t *testing.T) {
	t.Parallel()
	none := func(string) string { return "" }
	var api, worker bytes.Buffer
	_, err := Parse("dc-api", []string{"--help"}, none, &api)
	require.True(t, errors.Is(err, flag.ErrHelp))
	_, err = Parse("dc-worker", []string{"--help"}, none, &worker)
	require.True(t, errors.Is(err, flag.ErrHelp))

	require.Contains(t, api.String(), "healthcheck", "subcommands are listed")
	require.Contains(t, api.String(), "--version")
	require.Contains(t, api.String(), "DC_SCHEDULER_INTERVAL")
	require.NotContains(t, api.String(), "DC_WORKER_HTTP_ADDR")
	require.Contains(t, worker.String(), "DC_WORKER_HTTP_ADDR")
	for _, apiOnly := range []string{"DC_HTTP_ADDR ", "DC_SCHEDULER ", "DC_SCHEDULER_INTERVAL", "DC_HTTP_READ_TIMEOUT"} {
		require.NotContains(t, worker.String(), apiOnly, "dc-worker's help lists only worker settings")
	}
	for _, out := range []string{api.String(), worker.String()} {
		for _, line := range strings.Split(out, "\n") {
			require.LessOrEqual(t, strings.Count(line, "(default"), 1, "each default once: %s", line)
		}
	}

	var v bytes.Buffer
	_, err = Parse("dc-worker", []string{"--version"}, none, &v)
	require.True(t, errors.Is(err, flag.ErrHelp), "exits 0 like --help")
	require.True(t, strings.HasPrefix(v.String(), "dc-worker "), v.String())
}
