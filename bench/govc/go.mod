module github.com/vmlua/vmlua/bench/govc

go 1.26.8

require github.com/vmware/govmomi v0.56.0

require (
	github.com/dougm/pretty v0.0.0-20160325215624-add1dbc86daf // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/kr/text v0.2.0 // indirect
)
