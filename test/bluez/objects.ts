/**
 * A small D-Bus object server on dbus-next's raw message API, for the test BlueZ: objects with
 * interfaces, typed properties and methods; org.freedesktop.DBus.Properties (Get, GetAll, Set,
 * PropertiesChanged), org.freedesktop.DBus.ObjectManager at "/" (GetManagedObjects,
 * InterfacesAdded, InterfacesRemoved), Introspectable (interfaces and child nodes) and Peer.
 */
import dbus from "dbus-next";

/** A method's reply: its signature and body (nothing for an empty reply). */
export interface Reply {
  signature: string;
  body: unknown[];
}

/** A method: gets the call (its body, its sender); returns or resolves to the reply, throws DBusFault. */
export type Method = (call: dbus.Message) => Reply | void | Promise<Reply | void>;

/** An error reply with a D-Bus error name (org.bluez.Error.Failed, …). */
export class DBusFault extends Error {
  constructor(readonly errorName: string, text: string) {
    super(text);
  }
}

/** A property: its D-Bus signature and value. */
export interface Prop {
  sig: string;
  value: unknown;
  /** Writable through Properties.Set. */
  writable?: boolean;
}

/** One interface of one object. */
export interface Iface {
  props: Record<string, Prop>;
  methods: Record<string, Method>;
}

const PROPERTIES = "org.freedesktop.DBus.Properties";
const OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager";
const INTROSPECTABLE = "org.freedesktop.DBus.Introspectable";
const PEER = "org.freedesktop.DBus.Peer";

const variants = (props: Record<string, Prop>) =>
  Object.fromEntries(Object.entries(props).map(([k, p]) => [k, new dbus.Variant(p.sig, p.value)]));

/** The objects one bus connection serves. */
export class ObjectServer {
  private readonly objects = new Map<string, Map<string, Iface>>();

  constructor(private readonly bus: dbus.MessageBus) {
    bus.addMethodHandler((m: dbus.Message) => {
      void this.dispatch(m);
      return true;
    });
  }

  /** Adds an object (InterfacesAdded). */
  add(path: string, ifaces: Record<string, Iface>): void {
    let o = this.objects.get(path);
    if (!o) this.objects.set(path, (o = new Map()));
    for (const [name, i] of Object.entries(ifaces)) o.set(name, i);
    const body = Object.fromEntries(Object.entries(ifaces).map(([n, i]) => [n, variants(i.props)]));
    this.signal("/", OBJECT_MANAGER, "InterfacesAdded", "oa{sa{sv}}", [path, body]);
  }

  /** Removes an object (InterfacesRemoved). */
  remove(path: string): void {
    const o = this.objects.get(path);
    if (!o) return;
    this.objects.delete(path);
    this.signal("/", OBJECT_MANAGER, "InterfacesRemoved", "oas", [path, [...o.keys()]]);
  }

  has(path: string): boolean {
    return this.objects.has(path);
  }

  /** A property's value. */
  get(path: string, iface: string, name: string): unknown {
    return this.objects.get(path)?.get(iface)?.props[name]?.value;
  }

  /** Changes properties and says so (PropertiesChanged), as BlueZ does for every change. */
  set(path: string, iface: string, changes: Record<string, unknown>): void {
    const i = this.objects.get(path)?.get(iface);
    if (!i) return;
    const changed: Record<string, Prop> = {};
    for (const [k, v] of Object.entries(changes)) {
      const p = i.props[k];
      if (!p) throw new Error(`no property ${iface}.${k} at ${path}`);
      p.value = v;
      changed[k] = p;
    }
    this.signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}as", [iface, variants(changed), []]);
  }

  signal(path: string, iface: string, member: string, signature: string, body: unknown[]): void {
    this.bus.send(dbus.Message.newSignal(path, iface, member, signature, body));
  }

  private async dispatch(m: dbus.Message): Promise<void> {
    try {
      const r = await this.handle(m);
      this.bus.send(r ? dbus.Message.newMethodReturn(m, r.signature, r.body) : dbus.Message.newMethodReturn(m));
    } catch (e) {
      const f = e instanceof DBusFault ? e : new DBusFault("org.freedesktop.DBus.Error.Failed", String((e as Error).message ?? e));
      this.bus.send(dbus.Message.newError(m as unknown as string, f.errorName, f.message)); // typed as a string, takes the call
    }
  }

  private handle(m: dbus.Message): Reply | void | Promise<Reply | void> {
    const o = this.objects.get(m.path);
    if (m.interface === PEER && m.member === "Ping") return;
    if (m.interface === INTROSPECTABLE && m.member === "Introspect") return { signature: "s", body: [this.introspect(m.path)] };
    if (m.interface === OBJECT_MANAGER && m.member === "GetManagedObjects" && m.path === "/") {
      const all: Record<string, unknown> = {};
      for (const [path, ifaces] of this.objects) {
        all[path] = Object.fromEntries([...ifaces].map(([n, i]) => [n, variants(i.props)]));
      }
      return { signature: "a{oa{sa{sv}}}", body: [all] };
    }
    if (!o) throw new DBusFault("org.freedesktop.DBus.Error.UnknownObject", `no object ${m.path}`);
    if (m.interface === PROPERTIES) {
      const i = o.get(m.body[0] as string);
      if (!i) throw new DBusFault("org.freedesktop.DBus.Error.InvalidArgs", `no interface ${m.body[0]}`);
      if (m.member === "GetAll") return { signature: "a{sv}", body: [variants(i.props)] };
      const p = i.props[m.body[1] as string];
      if (!p) throw new DBusFault("org.freedesktop.DBus.Error.InvalidArgs", `no property ${m.body[1]}`);
      if (m.member === "Get") return { signature: "v", body: [new dbus.Variant(p.sig, p.value)] };
      if (m.member === "Set") {
        if (!p.writable) throw new DBusFault("org.freedesktop.DBus.Error.PropertyReadOnly", `${m.body[1]} is read-only`);
        this.set(m.path, m.body[0] as string, { [m.body[1] as string]: (m.body[2] as dbus.Variant).value });
        return;
      }
    }
    const candidates = m.interface ? [o.get(m.interface)] : [...o.values()];
    for (const i of candidates) {
      const method = i?.methods[m.member];
      if (method) return method(m);
    }
    throw new DBusFault("org.freedesktop.DBus.Error.UnknownMethod", `no method ${m.interface}.${m.member} at ${m.path}`);
  }

  /** Introspection data: the object's interfaces and methods (names only) and its child nodes. */
  private introspect(path: string): string {
    const o = this.objects.get(path);
    const prefix = path === "/" ? "/" : path + "/";
    const children = new Set<string>();
    for (const p of this.objects.keys()) if (p.startsWith(prefix) && p !== path) children.add(p.slice(prefix.length).split("/")[0]);
    const ifaces = [...(o ?? new Map<string, Iface>())].map(([n, i]) =>
      `  <interface name="${n}">\n${Object.keys(i.methods).map((x) => `    <method name="${x}"/>\n`).join("")}` +
      `${Object.entries(i.props).map(([k, p]) => `    <property name="${k}" type="${p.sig}" access="${p.writable ? "readwrite" : "read"}"/>\n`).join("")}  </interface>\n`);
    return `<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n<node>\n` +
      ifaces.join("") + [...children].map((c) => `  <node name="${c}"/>\n`).join("") + "</node>\n";
  }
}
