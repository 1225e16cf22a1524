//go:build !unix

package detect

import "time"

// cpuTime is unknown here.
func cpuTime() time.Duration { return 0 }
