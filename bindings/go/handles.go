package deferred

// Each handle's reactor, nil for a nil handle: Reactor.check then returns an
// error wrapping ErrInvalid and Reactor.own panics with it, so a method
// called on a nil handle says so instead of dereferencing nil.  (Deferred's
// is in deferred.go.)

func (l *Lock) reactor() *Reactor {
	if l == nil {
		return nil
	}
	return l.r
}

func (s *Semaphore) reactor() *Reactor {
	if s == nil {
		return nil
	}
	return s.r
}

func (q *Queue) reactor() *Reactor {
	if q == nil {
		return nil
	}
	return q.r
}

func (lc *LoopingCall) reactor() *Reactor {
	if lc == nil {
		return nil
	}
	return lc.r
}

func (dc *DelayedCall) reactor() *Reactor {
	if dc == nil {
		return nil
	}
	return dc.r
}
