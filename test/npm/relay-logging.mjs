// relay-logging drives an MCP endpoint of the gateway with the official
// TypeScript SDK client (a 2025-11-25 session) against the conformance
// fixture server (cmd/confserver) behind it, and checks that the log
// messages and progress notifications a tool sends while it runs reach
// the client before the tool's answer. Usage:
//
//	node relay-logging.mjs URL [PREFIX]
//
// PREFIX is the provider id the aggregate /mcp puts before tool names
// ("" for /mcp/{id}). It prints "ok" and exits 0, or prints what failed
// and exits 1.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { LoggingMessageNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { check, run } from "./check.mjs";

const [url, prefix = ""] = process.argv.slice(2);
const name = (n) => (prefix ? `${prefix}__${n}` : n);

const client = new Client({ name: "relay-ts-logging", version: "1" }, { capabilities: {} });
const logged = [];
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  logged.push(String(n.params.data));
});

async function main() {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  await client.setLoggingLevel("info");

  const res = await client.callTool({ name: name("test_tool_with_logging"), arguments: {} });
  check(!res.isError, `test_tool_with_logging: ${JSON.stringify(res)}`);
  // Handlers run before the answer resolves: all three are here.
  check(logged.length === 3 && logged[0] === "Tool execution started" && logged[2] === "Tool execution completed",
    `log messages during the call: ${JSON.stringify(logged)}`);

  const progress = [];
  const p = await client.callTool({ name: name("test_tool_with_progress"), arguments: {} }, undefined, {
    onprogress: (n) => progress.push(n.progress),
  });
  check(!p.isError, `test_tool_with_progress: ${JSON.stringify(p)}`);
  check(JSON.stringify(progress) === "[0,50,100]", `progress during the call: ${JSON.stringify(progress)}`);

  await transport.terminateSession();
  await client.close();
}

run(main);
