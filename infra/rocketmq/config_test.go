package rocketmq

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // "" for valid
	}{
		{name: "defaults", cfg: Config{NameServer: "127.0.0.1:9876"}},
		{name: "several name servers", cfg: Config{NameServer: "10.0.0.1:9876;10.0.0.2:9876"}},
		{name: "host name", cfg: Config{NameServer: "rocketmq-namesrv:9876"}},
		{name: "all set", cfg: Config{
			NameServer: "127.0.0.1:9876", Topic: "t", Group: "g", ProducerGroup: "p",
			SendTimeout: time.Second, Slots: 16, InstanceName: "worker-1", RetryDelayLevel: 18,
		}},
		{name: "no name server", cfg: Config{}, wantErr: "name server is required"},
		{name: "name server without port", cfg: Config{NameServer: "127.0.0.1"}, wantErr: "missing port"},
		{name: "name server bad port", cfg: Config{NameServer: "127.0.0.1:http"}, wantErr: "bad port"},
		{name: "name server port out of range", cfg: Config{NameServer: "127.0.0.1:70000"}, wantErr: "bad port"},
		{name: "name server no host", cfg: Config{NameServer: ":9876"}, wantErr: "no host"},
		{name: "empty entry", cfg: Config{NameServer: "127.0.0.1:9876;"}, wantErr: "missing port"},
		{name: "topic with dot", cfg: Config{NameServer: "127.0.0.1:9876", Topic: "dc.intents"}, wantErr: `topic "dc.intents"`},
		{name: "topic too long", cfg: Config{NameServer: "127.0.0.1:9876", Topic: strings.Repeat("t", 128)}, wantErr: "longer than 127"},
		{name: "group with space", cfg: Config{NameServer: "127.0.0.1:9876", Group: "dc workers"}, wantErr: `group "dc workers"`},
		{name: "reserved group", cfg: Config{NameServer: "127.0.0.1:9876", Group: "DEFAULT_CONSUMER"}, wantErr: "reserved"},
		{name: "producer group", cfg: Config{NameServer: "127.0.0.1:9876", ProducerGroup: "a/b"}, wantErr: "producer group"},
		{name: "negative timeout", cfg: Config{NameServer: "127.0.0.1:9876", SendTimeout: -time.Second}, wantErr: "negative"},
		{name: "negative slots", cfg: Config{NameServer: "127.0.0.1:9876", Slots: -1}, wantErr: "slots -1"},
		{name: "too many slots", cfg: Config{NameServer: "127.0.0.1:9876", Slots: 1025}, wantErr: "slots 1025"},
		{name: "instance name with @", cfg: Config{NameServer: "127.0.0.1:9876", InstanceName: "a@b"}, wantErr: "instance name"},
		{name: "delay level", cfg: Config{NameServer: "127.0.0.1:9876", RetryDelayLevel: 19}, wantErr: "retry delay level 19"},
		{name: "errors joined", cfg: Config{Slots: -1}, wantErr: "name server is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	a := Config{NameServer: "127.0.0.1:9876"}.withDefaults()
	b := Config{NameServer: "127.0.0.1:9876"}.withDefaults()
	require.Equal(t, DefaultTopic, a.Topic)
	require.Equal(t, DefaultGroup, a.Group)
	require.Equal(t, DefaultProducerGroup, a.ProducerGroup)
	require.Equal(t, DefaultSendTimeout, a.SendTimeout)
	require.Equal(t, DefaultSlots, a.Slots)
	require.Zero(t, a.RetryDelayLevel)
	require.NotEqual(t, a.InstanceName, b.InstanceName, "default instance names are unique")
	require.NoError(t, a.Validate())

	set := Config{NameServer: "x:1", Topic: "t", Group: "g", ProducerGroup: "p", SendTimeout: time.Second, Slots: 2, InstanceName: "i"}
	require.Equal(t, set, set.withDefaults(), "set fields are kept")
}

func TestNameServersResolve(t *testing.T) {
	tests := []struct {
		name   string
		server string
		want   []string
	}{
		{name: "ip", server: "127.0.0.1:9876", want: []string{"127.0.0.1:9876"}},
		{name: "several", server: "127.0.0.1:9876; 10.1.2.3:9877", want: []string{"127.0.0.1:9876", "10.1.2.3:9877"}},
		{name: "host name", server: "localhost:9876", want: []string{"127.0.0.1:9876"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, err := newNameServers(Config{NameServer: tt.server}, slog.Default())
			require.NoError(t, err)
			require.Equal(t, tt.want, ns.Resolve())
		})
	}
}

func TestNameServersKeepLastAnswer(t *testing.T) {
	ns, err := newNameServers(Config{NameServer: "localhost:9876"}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:9876"}, ns.Resolve())
	ns.addrs = []string{"no-such-host.invalid:9876"} // DNS now fails
	require.Equal(t, []string{"127.0.0.1:9876"}, ns.Resolve())
}
