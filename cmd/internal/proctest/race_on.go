//go:build race

package proctest

// raceEnabled: this test binary runs under the race detector, so the binaries
// it builds do too, and a race in the real processes (heartbeat, sweeps,
// batcher) fails the test that provoked it.
const raceEnabled = true
