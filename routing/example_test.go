package routing_test

import (
	"fmt"
	"strings"

	"github.com/switchyard-mcp/switchyard/routing"
)

func ExampleNew() {
	members := []routing.Member{
		{ID: "a", Weight: 5},
		{ID: "b", Weight: 1},
		{ID: "c", Weight: 1},
	}
	p, err := routing.New(routing.Weighted, members, nil)
	if err != nil {
		panic(err)
	}
	healthy := []bool{true, true, true}
	eligible := func(i int) bool { return healthy[i] }
	var picked []string
	for range 7 {
		i, _ := p.Pick(eligible, nil)
		picked = append(picked, members[i].ID)
	}
	fmt.Println(strings.Join(picked, " "))

	healthy[0], healthy[1], healthy[2] = false, false, false
	_, ok := p.Pick(eligible, nil)
	fmt.Println("picked with none eligible:", ok)

	_, err = routing.New("fastest", members, nil)
	fmt.Println(err)
	// Output:
	// a a b a c a a
	// picked with none eligible: false
	// unknown routing strategy "fastest" (want one of [round_robin weighted priority least_connections random])
}
