//go:build !race

package waf

// raceEnabled is true when the tests run with -race: the slow, whole
// corpus then runs on a sample.
const raceEnabled = false
