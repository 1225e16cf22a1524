package detect

// table maps keys to per-key state with at most max entries: when full,
// the least recently used entry is forgotten. Entries live in one slice
// linked by indices (no pointer per entry for the garbage collector to
// chase), and an evicted entry's slot is reused. It is not safe for
// concurrent use; the Set serialises access.
type table[K comparable, V any] struct {
	max   int
	index map[K]int32
	nodes []node[K, V]
	head  int32 // most recently used; -1 when empty
	tail  int32 // least recently used; -1 when empty
}

type node[K comparable, V any] struct {
	key        K
	val        V
	prev, next int32
}

func newTable[K comparable, V any](max int) *table[K, V] {
	return &table[K, V]{max: max, index: map[K]int32{}, head: -1, tail: -1}
}

// len is the number of entries.
func (t *table[K, V]) len() int { return len(t.index) }

// put returns the entry of k, creating a zero one (and forgetting the
// least recently used entry when the table is full) if there is none;
// created reports which. The pointer is valid until the next call to put.
func (t *table[K, V]) put(k K) (v *V, created bool) {
	if i, ok := t.index[k]; ok {
		t.touch(i)
		return &t.nodes[i].val, false
	}
	var i int32
	if len(t.nodes) < t.max {
		t.nodes = append(t.nodes, node[K, V]{})
		i = int32(len(t.nodes) - 1)
	} else {
		i = t.tail
		t.unlink(i)
		delete(t.index, t.nodes[i].key)
		t.nodes[i] = node[K, V]{}
	}
	t.nodes[i].key = k
	t.index[k] = i
	t.pushFront(i)
	return &t.nodes[i].val, true
}

// resize sets the bound, forgetting the least recently used entries
// beyond it.
func (t *table[K, V]) resize(max int) {
	if max < 1 {
		max = 1
	}
	t.max = max
	if len(t.nodes) <= max {
		return
	}
	// Rebuild compactly from the most recently used entries.
	old := t.nodes
	keep := make([]node[K, V], 0, max)
	for i := t.head; i >= 0 && len(keep) < max; i = old[i].next {
		keep = append(keep, node[K, V]{key: old[i].key, val: old[i].val})
	}
	t.nodes = keep
	t.index = make(map[K]int32, len(keep))
	t.head, t.tail = -1, -1
	for i := range keep {
		t.index[keep[i].key] = int32(i)
		t.pushBack(int32(i))
	}
}

// clear forgets everything.
func (t *table[K, V]) clear() {
	t.index = map[K]int32{}
	t.nodes = nil
	t.head, t.tail = -1, -1
}

func (t *table[K, V]) touch(i int32) {
	if t.head == i {
		return
	}
	t.unlink(i)
	t.pushFront(i)
}

func (t *table[K, V]) unlink(i int32) {
	n := &t.nodes[i]
	if n.prev >= 0 {
		t.nodes[n.prev].next = n.next
	} else {
		t.head = n.next
	}
	if n.next >= 0 {
		t.nodes[n.next].prev = n.prev
	} else {
		t.tail = n.prev
	}
	n.prev, n.next = -1, -1
}

func (t *table[K, V]) pushFront(i int32) {
	n := &t.nodes[i]
	n.prev, n.next = -1, t.head
	if t.head >= 0 {
		t.nodes[t.head].prev = i
	}
	t.head = i
	if t.tail < 0 {
		t.tail = i
	}
}

func (t *table[K, V]) pushBack(i int32) {
	n := &t.nodes[i]
	n.prev, n.next = t.tail, -1
	if t.tail >= 0 {
		t.nodes[t.tail].next = i
	}
	t.tail = i
	if t.head < 0 {
		t.head = i
	}
}
