package host

import (
	"github.com/wasmsock/wasmsock/abi"
	"github.com/wasmsock/wasmsock/host/config"
	"github.com/wasmsock/wasmsock/host/hub"
)

// Group is a group's name and its number of members on this node.
type Group = hub.Group

// groupLimits are the bounds on the groups plugins can make clients create ([limits]).
func groupLimits(cfg *config.Config) hub.Limits {
	return hub.Limits{PerMember: *cfg.Limits.MaxGroupsPerConnection, Total: *cfg.Limits.MaxGroups}
}

// groupLimit counts and logs a join refused by a limit, and gives the plugin its status.
func (s *Server) groupLimit(c *Conn, group string, err error) abi.Status {
	which := "per_connection"
	if err == hub.ErrTotalLimit {
		which = "total"
	}
	s.metrics.groupLimits.WithLabelValues(which).Inc()
	c.logger().Debug("join refused", "group", group, "reason", err)
	return abi.ErrLimit
}
