package deferred

import "testing"

// The loaded library must be of the header's major version and at least its
// minor.
func TestCheckVersion(t *testing.T) {
	ok := []string{"0.2.0", "0.2.7", "0.3.0", "0.10.1"}
	bad := []string{"0.1.9", "1.2.0", "", "x.y", "0"}
	for _, v := range ok {
		if err := checkVersion(v, 0, 2); err != nil {
			t.Errorf("%q refused: %v", v, err)
		}
	}
	for _, v := range bad {
		if err := checkVersion(v, 0, 2); err == nil {
			t.Errorf("%q accepted", v)
		}
	}
	if err := checkVersion(Version(), builtMajor, builtMinor); err != nil {
		t.Error(err)
	}
}
