package inventory

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"math/bits"
	"net/netip"
	"slices"
)

// Distinct counting: a set of up to sparseMax 64-bit hashes, exact, that
// turns into a HyperLogLog of 2^hllP one-byte registers (2 KiB, standard
// error 1.04/sqrt(2048) ≈ 2.3 %) when it outgrows them. Memory per counter
// is therefore at most 2 KiB, however many distinct values it sees.
const (
	hllP      = 11
	hllM      = 1 << hllP
	sparseMax = 128
)

// distinct estimates how many distinct values were added.
type distinct struct {
	sparse []uint64 // sorted; nil once dense
	regs   []uint8  // nil while sparse
}

// add records one value's hash.
func (d *distinct) add(h uint64) {
	if d.regs != nil {
		d.addDense(h)
		return
	}
	i, found := slices.BinarySearch(d.sparse, h)
	if found {
		return
	}
	if len(d.sparse) < sparseMax {
		d.sparse = slices.Insert(d.sparse, i, h)
		return
	}
	d.regs = make([]uint8, hllM)
	for _, x := range d.sparse {
		d.addDense(x)
	}
	d.sparse = nil
	d.addDense(h)
}

func (d *distinct) addDense(h uint64) {
	idx := h >> (64 - hllP)
	w := h<<hllP | 1<<(hllP-1) // the guard bit bounds rho
	rho := uint8(bits.LeadingZeros64(w) + 1)
	if rho > d.regs[idx] {
		d.regs[idx] = rho
	}
}

// count returns the number of distinct values: exact while sparse, a
// HyperLogLog estimate (with linear counting for small ranges) after.
func (d *distinct) count() uint64 {
	if d.regs == nil {
		return uint64(len(d.sparse))
	}
	var sum float64
	zeros := 0
	for _, r := range d.regs {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	alpha := 0.7213 / (1 + 1.079/m)
	est := alpha * m * m / sum
	if est <= 2.5*m && zeros > 0 {
		est = m * math.Log(m/float64(zeros))
	}
	return uint64(est + 0.5)
}

// merge adds the values of o.
func (d *distinct) merge(o *distinct) {
	if o.regs == nil {
		for _, h := range o.sparse {
			d.add(h)
		}
		return
	}
	if d.regs == nil {
		d.regs = make([]uint8, hllM)
		for _, x := range d.sparse {
			d.addDense(x)
		}
		d.sparse = nil
	}
	for i, r := range o.regs {
		if r > d.regs[i] {
			d.regs[i] = r
		}
	}
}

// distinctJSON is a distinct counter in a snapshot: the sorted hashes
// delta-encoded as uvarints, or the registers, in base64.
type distinctJSON struct {
	Sparse string `json:"s,omitempty"`
	Dense  string `json:"d,omitempty"`
}

// MarshalJSON encodes the counter's state.
func (d distinct) MarshalJSON() ([]byte, error) {
	var j distinctJSON
	if d.regs != nil {
		j.Dense = base64.RawStdEncoding.EncodeToString(d.regs)
	} else if len(d.sparse) > 0 {
		buf := make([]byte, 0, len(d.sparse)*9)
		var prev uint64
		for _, h := range d.sparse {
			buf = binary.AppendUvarint(buf, h-prev)
			prev = h
		}
		j.Sparse = base64.RawStdEncoding.EncodeToString(buf)
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes a counter's state.
func (d *distinct) UnmarshalJSON(b []byte) error {
	var j distinctJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*d = distinct{}
	if j.Dense != "" {
		regs, err := base64.RawStdEncoding.DecodeString(j.Dense)
		if err != nil || len(regs) != hllM {
			return errors.New("distinct counter: bad registers")
		}
		for _, r := range regs {
			if r > 64-hllP+1 {
				return errors.New("distinct counter: bad register value")
			}
		}
		d.regs = regs
		return nil
	}
	if j.Sparse == "" {
		return nil
	}
	buf, err := base64.RawStdEncoding.DecodeString(j.Sparse)
	if err != nil {
		return errors.New("distinct counter: bad hashes")
	}
	var prev uint64
	for len(buf) > 0 {
		v, n := binary.Uvarint(buf)
		if n <= 0 {
			return errors.New("distinct counter: bad hashes")
		}
		buf = buf[n:]
		prev += v
		d.add(prev)
	}
	return nil
}

// hashString is a 64-bit hash of s, stable across processes (so that
// counters restored from a snapshot keep counting the same values):
// FNV-1a finished with the SplitMix64 mixer for well spread high bits.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return mix64(h)
}

// hashAddr is hashString for an address, without allocating.
func hashAddr(a netip.Addr) uint64 {
	b := a.As16()
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

func mix64(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	return z ^ z>>31
}
