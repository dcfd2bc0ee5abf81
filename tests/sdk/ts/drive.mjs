// Drives a running lab with Scaleway's official TypeScript SDK, as tests/e2e/test_sdk_lab.py
// does with the Python one: a VPC and a private network, two routing policies, a hosted link
// (approved on the lab's partner side), VPC and policies attached, propagation on, `active`
// through the SDK's own waiter; lists across pages and filters; bad input raising the SDK's
// typed errors (so the lab's error bodies parse as Scaleway's do); delete until gone (404);
// then a self-hosted link on a dedicated connection, `ready` then `active`.
// Phases (argv[2]): "build" stops once the hosted link is active and checked (the caller
// looks at packets, may restart the controller); "finish" (with ILAB_LINK_ID, ILAB_POLICY_IDS)
// does the errors, the deletes and the self-hosted link. No argument runs both.
// Prints one JSON object with what it saw; exits non-zero on any failure.
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
const sdk = (secretKey) => createClient({
  accessKey: "SCWXXXXXXXXXXXXXXXXX",
  secretKey,
  apiURL,
  defaultProjectId: "11111111-1111-4111-8111-111111111111",
  defaultOrganizationId: "11111111-1111-4111-8111-111111111111",
  defaultRegion: "fr-par",
  defaultZone: "fr-par-1",
});
const client = sdk(token);
const api = new Interlinkv1beta1.API(client);
const vpcs = new Vpcv2.API(client);
// The SDK's waiter polls at >= 1 s intervals; the lab settles in a few seconds.
const waitActive = (linkId) => api.waitForLink({ linkId }, {
  stop: (lk) => Promise.resolve(lk.status === "active"), timeout: 30, minDelay: 1, maxDelay: 2,
});
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// What the SDK raised: its class name (the typed error it parsed the body into) and fields.
async function raised(call) {
  try {
    await call();
  } catch (err) {
    return {
      name: err.name, status: err.status ?? null, message: err.message,
      argumentNames: (err.details ?? []).map((d) => d.argumentName),
      precondition: err.precondition, resource: err.resource, resourceId: err.resourceId,
      method: err.method, reason: err.reason,
    };
  }
  return { name: "accepted" };
}

async function gone(linkId, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await raised(() => api.getLink({ linkId }));
    if (last.name !== "accepted") return last;
    await sleep(200);
  }
  throw new Error(`link ${linkId} still there after ${timeoutMs / 1000}s`);
}

async function build(out) {
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
  out.policyIds = [p4.id, p6.id];
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
  link = await waitActive(link.id);
  out.link = {
    id: link.id, status: link.status, bgpV4Status: link.bgpV4Status,
    bgpV6Status: link.bgpV6Status, vpcId: link.vpcId,
  };

  // Lists across pages (the SDK follows total_count) and filters, as automation does.
  out.pagedNames = (await api.listLinks({ pageSize: 1 }).all()).map((lk) => lk.name).sort();
  out.listed = (await api.listLinks({ vpcId: vpc.id })).links.map((lk) => lk.id);
  out.filtered = (await api.listLinks({ status: "active", partnerId: env("ILAB_PARTNER_ID") }))
    .links.map((lk) => lk.id);
}

async function finish(out, linkId, policyIds) {
  const [p4] = policyIds;
  // Bad input raises the documented errors, typed by the SDK, and changes nothing.
  out.reattach = await raised(() => api.attachRoutingPolicy({ linkId, routingPolicyId: p4 }));
  out.badPrefix = await raised(() => api.createRoutingPolicy({
    name: "bad", isIpv6: false, prefixFilterIn: ["10.0.0.1/8"],
  }));
  const many = Array.from({ length: 10_001 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
  out.tooMany = await raised(() => api.createRoutingPolicy({
    name: "many", isIpv6: false, prefixFilterIn: many,
  }));
  out.badToken = await raised(() => new Interlinkv1beta1.API(
    sdk("00000000-0000-4000-8000-000000000000")).getLink({ linkId }));
  out.policiesAfterErrors = (await api.listRoutingPolicies({}).all()).map((p) => p.name).sort();
  out.stillActive = (await api.getLink({ linkId })).status;

  // Delete tears the link down, then it is gone (404, ResourceNotFoundError); a policy no
  // link uses deletes (204: the SDK takes an empty answer).
  out.deleting = (await api.deleteLink({ linkId })).status;
  out.gone = await gone(linkId, 20_000);
  for (const routingPolicyId of policyIds) await api.deleteRoutingPolicy({ routingPolicyId });
  out.policiesLeft = (await api.listRoutingPolicies({}).all()).map((p) => p.name).sort();

  // A self-hosted link on one of the customer's dedicated connections: ready, then active.
  const conns = await api.listDedicatedConnections({}).all();
  const conn = conns.find((c) => c.status === "active");
  if (!conn) throw new Error(`no active dedicated connection: ${JSON.stringify(conns)}`);
  const dp4 = await api.createRoutingPolicy({
    name: "ts-dedicated-v4", isIpv6: false, prefixFilterIn: ["198.18.128.0/17"],
  });
  let link = await api.createLink({
    name: "ts-dedicated", popId: conn.popId, bandwidthMbps: conn.availableLinkBandwidths[0],
    connectionId: conn.id, peerAsn: 64999, routingPolicyV4Id: dp4.id,
  });
  out.selfHostedCreated = { status: link.status, self: link.self != null };
  link = await waitActive(link.id);
  out.selfHosted = { status: link.status, bgpV4Status: link.bgpV4Status,
    bgpV6Status: link.bgpV6Status };
  await api.deleteLink({ linkId: link.id });
  out.selfHostedGone = (await gone(link.id, 20_000)).name;
}

const out = {};
const phase = process.argv[2] ?? "all";
if (phase === "build" || phase === "all") await build(out);
if (phase === "finish" || phase === "all") {
  const linkId = out.link?.id ?? env("ILAB_LINK_ID");
  await finish(out, linkId, out.policyIds ?? env("ILAB_POLICY_IDS").split(","));
}
console.log(JSON.stringify(out));
