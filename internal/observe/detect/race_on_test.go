//go:build race

package detect

// raceEnabled: the race detector multiplies the process's memory.
const raceEnabled = true
