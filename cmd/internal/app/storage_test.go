package app

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func parseStorageEnv(env map[string]string) (Config, error) {
	return Parse("t", nil, func(k string) string { return env[k] }, io.Discard)
}

func TestStorageSettings(t *testing.T) {
	c, err := parseStorageEnv(nil)
	require.NoError(t, err)
	require.Equal(t, StorageLocal, c.Storage, "the volume by default")

	c, err = parseStorageEnv(map[string]string{"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_ENDPOINT": "http://127.0.0.1:8333"})
	require.NoError(t, err)
	require.True(t, c.S3.pathStyle(), "path-style with an endpoint unless told otherwise")
	require.Equal(t, 5*time.Minute, c.S3.LinkTTL)
	require.False(t, c.S3.Proxy)

	c, err = parseStorageEnv(map[string]string{"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_PATH_STYLE": "false", "DC_S3_ENDPOINT": "http://x"})
	require.NoError(t, err)
	require.False(t, c.S3.pathStyle())
	c, err = parseStorageEnv(map[string]string{"DC_STORAGE": "s3", "DC_S3_BUCKET": "b"})
	require.NoError(t, err)
	require.False(t, c.S3.pathStyle(), "AWS: virtual-hosted")

	for msg, env := range map[string]map[string]string{
		"DC_STORAGE must be local or s3":             {"DC_STORAGE": "nfs"},
		"DC_S3_BUCKET must be set":                   {"DC_STORAGE": "s3"},
		"must be set together":                       {"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_ACCESS_KEY": "k"},
		"DC_S3_PATH_STYLE must be true or false":     {"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_PATH_STYLE": "maybe"},
		"DC_S3_LINK_TTL must be between 1s and 168h": {"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_LINK_TTL": "200h"},
		"DC_S3_PROXY: not a boolean":                 {"DC_STORAGE": "s3", "DC_S3_BUCKET": "b", "DC_S3_PROXY": "yes please"},
	} {
		_, err := parseStorageEnv(env)
		require.ErrorContains(t, err, msg, "%v", env)
	}
}
