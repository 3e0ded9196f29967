//go:build !race

package rocketmq

// raceDetector reports whether the tests run under the race detector.
const raceDetector = false
