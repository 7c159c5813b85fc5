// A scriptable socket.io client for mom's gateway tests: a real socket.io-client v2 (as the
// seed's panel) or v4, connected to the `/user` namespace.
//
// Usage: node client.mjs '<json options>'   (or the same JSON in the MOM_CLIENT variable)
//
//   url        gateway base URL, e.g. "http://127.0.0.1:7080" (required)
//   version    "v2" | "v4"                                    (default "v4")
//   transport  "polling" (long-polling, then upgrade to websocket) | "websocket" (default "websocket")
//   namespace  default "/user"
//   auth       emitted with `authenticate` on connect; any JSON, null included. Absent: nothing is emitted.
//   events     exit after printing this many events             (default 1)
//   timeoutMs  exit after this long whatever happened            (default 10000)
//
// Output, one JSON object per line on stdout:
//   {"event":"authenticated","argc":0}               an event from the server; `data` is its first
//   {"event":"auth-error","argc":1,"data":"old-token"}   argument, `args` all of them if more than one
//   {"event":"ack:deauthenticate","argc":0}          the server acknowledged an emit (counts as an event)
//   {"status":"open","transport":"polling"}          connection news; never counted as events:
//   {"status":"upgrade","transport":"websocket"}     engine open, transport upgrade, namespace
//   {"status":"connected","transport":"websocket"}   connected, disconnect, connect_error
//   {"status":"exit","reason":"events"|"timeout"|"stdin"|"disconnect"|"connect_error"}
//
// Commands, one JSON object per line on stdin:
//   {"emit":"deauthenticate","ack":true}             emit an event (with `data` if given), wanting an ack or not
//   {"exit":true}                                    exit now
//
// The process always exits: after the events, at the timeout, or on a command.

import { createInterface } from "node:readline";
import io2 from "sio2";
import { io as io4 } from "sio4";

const options = JSON.parse(process.argv[2] ?? process.env.MOM_CLIENT ?? "{}");
const {
  url,
  version = "v4",
  transport = "websocket",
  namespace = "/user",
  events: wanted = 1,
  timeoutMs = 10000,
} = options;
if (!url || !["v2", "v4"].includes(version) || !["polling", "websocket"].includes(transport)) {
  process.stderr.write(`bad options: ${JSON.stringify(options)}\n`);
  process.exit(2);
}

const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");
let exiting = false;
let socket;

function exit(reason) {
  if (exiting) return;
  exiting = true;
  print({ status: "exit", reason });
  try {
    socket?.close();
  } catch {}
  // Let stdout drain, then leave even if a timer or a transport would keep node alive.
  process.stdout.write("", () => process.exit(0));
  setTimeout(() => process.exit(0), 200).unref();
}

let seen = 0;
function received(event, args) {
  if (exiting) return;
  const line = { event, argc: args.length };
  if (args.length >= 1) line.data = args[0];
  if (args.length > 1) line.args = args;
  print(line);
  seen += 1;
  if (seen >= wanted) exit("events");
}

setTimeout(() => exit("timeout"), timeoutMs);

const transports = transport === "polling" ? ["polling", "websocket"] : ["websocket"];
const target = url.replace(/\/$/, "") + namespace;
const common = { transports, forceNew: true, reconnection: false, timeout: timeoutMs };

if (version === "v2") {
  socket = io2(target, common);
  // v2 has no onAny: every incoming event passes through `onevent`.
  const onevent = socket.onevent;
  socket.onevent = function (packet) {
    const [event, ...args] = packet.data ?? [];
    received(event, args);
    return onevent.call(this, packet);
  };
} else {
  socket = io4(target, common);
  socket.onAny((event, ...args) => received(event, args));
}

// The engine (one connection under all namespaces) opens before the namespace connects, and
// may upgrade before that too: watch it from the start.
socket.io.on("open", () => {
  const engine = socket.io.engine;
  print({ status: "open", transport: engine.transport.name });
  engine.on("upgrade", (t) => print({ status: "upgrade", transport: t?.name ?? engine.transport.name }));
});
socket.on("connect", () => {
  print({ status: "connected", transport: socket.io.engine.transport.name });
  if ("auth" in options) socket.emit("authenticate", options.auth);
});
socket.on("connect_error", (error) => {
  print({ status: "connect_error", message: String(error?.message ?? error) });
  exit("connect_error");
});
socket.on("disconnect", (reason) => {
  print({ status: "disconnect", reason: String(reason) });
  exit("disconnect");
});

const commands = createInterface({ input: process.stdin });
commands.on("line", (text) => {
  if (!text.trim()) return;
  let command;
  try {
    command = JSON.parse(text);
  } catch {
    process.stderr.write(`bad command: ${text}\n`);
    return;
  }
  if (command.exit) return exit("stdin");
  if (command.emit) {
    const args = "data" in command ? [command.data] : [];
    if (command.ack) args.push((...reply) => received(`ack:${command.emit}`, reply));
    socket.emit(command.emit, ...args);
  }
});
// A closed stdin is no reason to leave: the timeout still bounds the run.
