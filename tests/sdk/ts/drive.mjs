// Drives a running lab with Scaleway's official TypeScript SDK, as tests/e2e/test_sdk_lab.py
// does with the Python one: a VPC and a private network, two routing policies, a hosted link
// (approved on the lab's partner side), VPC and policies attached, propagation on, then
// `active`. Prints one JSON object with what it saw; exits non-zero on any failure.
//
// Environment: SCW_API_URL, SCW_SECRET_KEY (the lab's token), ILAB_POP_ID, ILAB_PARTNER_ID.
import { createClient } from "@scaleway/sdk-client";
import { Interlinkv1beta1 } from "@scaleway/sdk-interlink";
import { Vpcv2 } from "@scaleway/sdk-vpc";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

const apiURL = env("SCW_API_URL");
const token = env("SCW_SECRET_KEY");
const client = createClient({
  accessKey: "SCWXXXXXXXXXXXXXXXXX",
  secretKey: token,
  apiURL,
  defaultProjectId: "11111111-1111-4111-8111-111111111111",
  defaultOrganizationId: "11111111-1111-4111-8111-111111111111",
  defaultRegion: "fr-par",
  defaultZone: "fr-par-1",
});
const api = new Interlinkv1beta1.API(client);
const vpcs = new Vpcv2.API(client);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, check, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last.ok) return last.value;
    await sleep(200);
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what} (last: ${JSON.stringify(last.value)})`);
}

const out = {};
const vpc = await vpcs.createVPC({ name: "ts-prod", enableRouting: true });
const pn = await vpcs.createPrivateNetwork({ vpcId: vpc.id, name: "ts-apps" });
const [v4, v6] = pn.subnets.map((s) => s.subnet);
out.subnets = [v4, v6];
const p4 = await api.createRoutingPolicy({
  name: "ts-v4", isIpv6: false, prefixFilterIn: ["198.18.128.0/17"], prefixFilterOut: [v4],
});
const p6 = await api.createRoutingPolicy({
  name: "ts-v6", isIpv6: true, prefixFilterIn: ["2001:db8:1000::/36"], prefixFilterOut: [v6],
});
let link = await api.createLink({
  name: "ts-link", popId: env("ILAB_POP_ID"), bandwidthMbps: 1000,
  partnerId: env("ILAB_PARTNER_ID"),
});
out.created = link.status;

// The partner's side is not part of Scaleway's API: the lab's own endpoint approves.
const approve = await fetch(`${apiURL}/lab/v1/partner/approve`, {
  method: "POST",
  headers: { "X-Auth-Token": token, "Content-Type": "application/json" },
  body: JSON.stringify({ pairing_key: link.partner.pairingKey }),
});
if (!approve.ok) throw new Error(`partner approve: HTTP ${approve.status}`);

await api.attachVpc({ linkId: link.id, vpcId: vpc.id });
await api.attachRoutingPolicy({ linkId: link.id, routingPolicyId: p4.id });
await api.attachRoutingPolicy({ linkId: link.id, routingPolicyId: p6.id });
await api.enableRoutePropagation({ linkId: link.id });
link = await waitFor("the link to be active", async () => {
  const lk = await api.getLink({ linkId: link.id });
  return { ok: lk.status === "active", value: lk.status };
}, 30_000).then(() => api.getLink({ linkId: link.id }));
out.link = {
  id: link.id, status: link.status, bgpV4Status: link.bgpV4Status,
  bgpV6Status: link.bgpV6Status, vpcId: link.vpcId,
};
out.vpcId = vpc.id;

// Lists, and a documented error: attaching the same policy again is a 412.
const links = await api.listLinks({ vpcId: vpc.id });
out.listed = links.links.map((lk) => lk.id);
try {
  await api.attachRoutingPolicy({ linkId: link.id, routingPolicyId: p4.id });
  out.reattach = "accepted";
} catch (err) {
  out.reattach = { status: err.status ?? err.httpStatus ?? null, name: err.name, message: err.message };
}
console.log(JSON.stringify(out));
