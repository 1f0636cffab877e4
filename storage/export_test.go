package storage

// SetBatches makes Prune's and Export's transactions small, so tests cover
// the resumption between batches with few records. It returns a function
// that restores the defaults; tests using it must not run in parallel.
func SetBatches(sessions, scan, export int) (restore func()) {
	s, sc, e := pruneSessionBatch, pruneScanBatch, exportBatch
	pruneSessionBatch, pruneScanBatch, exportBatch = sessions, scan, export
	return func() { pruneSessionBatch, pruneScanBatch, exportBatch = s, sc, e }
}
