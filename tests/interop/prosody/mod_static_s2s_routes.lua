-- Test-only Prosody module: static server-to-server routes (domain -> { "ip", port }) asked before DNS, as
-- Actors' Xmpp:S2s:Routes are. Prosody has none built in; mod_s2s resolves through net.resolvers.service,
-- whose constructor this wraps. Option: static_s2s_routes = { ["actors.test"] = { "127.0.0.1", 35269 } }
local basic = require "net.resolvers.basic";
local service = require "net.resolvers.service";
local routes = module:get_option("static_s2s_routes", {});
local original = service.new;
service.new = function (hostname, svc, proto, extra)
	local route = routes[hostname];
	if route and svc == "xmpp-server" then
		return basic.new(route[1], route[2], proto, extra);
	end
	if route and svc == "xmpps-server" then
		return basic.new("0.0.0.0", 9, proto, extra); -- no direct TLS on a static route: a target that fails at once
	end
	return original(hostname, svc, proto, extra);
end
function module.unload() service.new = original; end
