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

// check: the handle's reactor's check, then errFreed once the handle itself
// was freed (C would refuse the NULL with a failed deferred nobody handles).

func (l *Lock) check() error {
	if err := l.reactor().check(); err != nil {
		return err
	}
	if l.c == nil {
		return errFreed
	}
	return nil
}

func (s *Semaphore) check() error {
	if err := s.reactor().check(); err != nil {
		return err
	}
	if s.c == nil {
		return errFreed
	}
	return nil
}

func (q *Queue) check() error {
	if err := q.reactor().check(); err != nil {
		return err
	}
	if q.c == nil {
		return errFreed
	}
	return nil
}

func (lc *LoopingCall) check() error {
	if err := lc.reactor().check(); err != nil {
		return err
	}
	if lc.c == nil {
		return errFreed
	}
	return nil
}
