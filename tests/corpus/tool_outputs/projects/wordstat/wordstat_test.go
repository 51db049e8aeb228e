package wordstat

import (
	"fmt"
	"reflect"
	"testing"
)

func TestCount(t *testing.T) {
	cases := []struct{ in string; word string; want int }{
		{"a b a", "a", 2}, {"Hello, hello!", "hello", 2}, {"it's its", "it's", 1}, {"", "x", 0},
		{"one-two-three two", "two", 2}, {"CAPS caps Caps", "caps", 3}, {"tab\tsep tab", "tab", 2},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%q", c.in), func(t *testing.T) {
			if got := Count(c.in)[c.word]; got != c.want {
				t.Errorf("Count(%q)[%q] = %d, want %d", c.in, c.word, got, c.want)
			}
		})
	}
}

func TestTop(t *testing.T) {
	for n := 0; n < 12; n++ {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			got := Top(Count("b a c a b a d e f g h i j k"), n)
			if n >= 2 && !reflect.DeepEqual(got[:2], []string{"a", "b"}) {
				t.Fatalf("Top(..., %d)[:2] = %v, want [a b]", n, got[:2])
			}
			if n >= 4 && got[2] != "c" {
				t.Errorf("Top(..., %d)[2] = %q, want \"c\" (ties alphabetical)", n, got[2])
			}
		})
	}
}

func TestReverse(t *testing.T) {
	for _, s := range []string{"abc", "racecar", "", "héllo", "日本語", "go"} {
		t.Run(s, func(t *testing.T) {
			if Reverse(Reverse(s)) != s {
				t.Errorf("double reverse of %q changed it", s)
			}
			if s == "héllo" && Reverse(s) != "olléh" {
				t.Errorf("Reverse(%q) = %q, want %q", s, Reverse(s), "olléh")
			}
		})
	}
}
