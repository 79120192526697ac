// relay-client drives an MCP endpoint of the gateway with the official
// TypeScript SDK client (a 2025-11-25 session) against server-everything
// behind it, and checks that resources, prompts, completion, progress,
// sampling and elicitation are relayed. Usage:
//
//	node relay-client.mjs URL [PREFIX]
//
// PREFIX is the provider id the aggregate /mcp puts before names and in
// resource URIs ("" for /mcp/{id}). It prints "ok" and exits 0, or prints
// what failed and exits 1.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { check, run } from "./check.mjs";

const [url, prefix = ""] = process.argv.slice(2);
const name = (n) => (prefix ? `${prefix}__${n}` : n);

const client = new Client(
  { name: "relay-ts", version: "1" },
  { capabilities: { sampling: {}, elicitation: {} } },
);
const sampled = [];
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  const first = req.params.messages[0];
  sampled.push(first?.content?.text ?? "");
  return { model: "relay-ts-model", role: "assistant", content: { type: "text", text: "ts sampled answer" } };
});
client.setRequestHandler(ElicitRequestSchema, async () => ({
  action: "accept",
  content: { name: "Grace Hopper" },
}));

const text = (res) => (res.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("");

async function main() {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  await client.connect(transport);
  check(transport.protocolVersion === "2025-11-25" || client.getServerVersion(), "no session negotiated");
  const info = client.getServerVersion();
  if (prefix) {
    check(info?.name === "switchyard", `aggregate serverInfo ${JSON.stringify(info)}`);
  } else {
    check(info?.name?.includes("everything"), `serverInfo ${JSON.stringify(info)}, want the backend's`);
  }
  const caps = client.getServerCapabilities() ?? {};
  check(caps.resources && caps.prompts && caps.completions && caps.tools, `capabilities ${JSON.stringify(caps)}`);

  const resources = await client.listResources();
  check(resources.resources.length > 0, "resources/list is empty");
  const first = resources.resources[0].uri;
  if (prefix) {
    check(first.startsWith(`switchyard://${prefix}/`), `aggregate resource URI ${first}`);
  }
  const read = await client.readResource({ uri: first });
  check(read.contents.length > 0 && read.contents[0].uri === first, `resources/read ${JSON.stringify(read).slice(0, 200)}`);
  const templates = await client.listResourceTemplates();
  check(templates.resourceTemplates.length > 0, "resources/templates/list is empty");

  const prompts = await client.listPrompts();
  check(prompts.prompts.some((p) => p.name === name("simple-prompt")), "prompts/list lacks simple-prompt");
  const prompt = await client.getPrompt({ name: name("simple-prompt") });
  check(prompt.messages.length > 0, "prompts/get has no messages");
  const comp = await client.complete({
    ref: { type: "ref/prompt", name: name("completable-prompt") },
    argument: { name: "department", value: "Sal" },
  });
  check(comp.completion.values.length === 1 && comp.completion.values[0] === "Sales", `completion ${JSON.stringify(comp)}`);

  const progress = [];
  const long = await client.callTool(
    { name: name("trigger-long-running-operation"), arguments: { duration: 0.3, steps: 3 } },
    undefined,
    { onprogress: (p) => progress.push(p.progress) },
  );
  check(!long.isError, `long-running operation: ${text(long)}`);
  check(progress.length === 3, `${progress.length} progress notifications, want 3`);

  const sampling = await client.callTool({ name: name("trigger-sampling-request"), arguments: { prompt: "ts relay" } });
  check(!sampling.isError && text(sampling).includes("ts sampled answer"), `sampling result ${text(sampling)}`);
  check(sampled.some((s) => s.includes("ts relay")), `the client was sampled with ${JSON.stringify(sampled)}`);

  const elicit = await client.callTool({ name: name("trigger-elicitation-request"), arguments: {} });
  check(!elicit.isError && text(elicit).includes("Grace Hopper"), `elicitation result ${text(elicit)}`);

  await client.setLoggingLevel("debug");
  await transport.terminateSession();
  await client.close();
}

run(main);
