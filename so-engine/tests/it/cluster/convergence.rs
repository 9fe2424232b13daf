//! Seeded writes from clients and server code on an owner and a replica,
//! with each client's view checked against the owner's.

use super::*;

/// What a Flash client makes of the messages it gets: its own writes
/// applied at once, SUCCESS re-applying what it wrote, everything else as
/// it comes. Versions never go back.
#[derive(Default)]
struct ClientView {
    view: std::collections::BTreeMap<String, Value>,
    written: std::collections::BTreeMap<String, std::collections::VecDeque<Value>>,
    version: u32,
}

impl ClientView {
    fn wrote(&mut self, key: &str, value: &Value) {
        if value.is_null_or_undefined() {
            self.view.remove(key);
        } else {
            self.view.insert(key.into(), value.clone());
        }
        self.written
            .entry(key.into())
            .or_default()
            .push_back(value.clone());
    }

    fn receive(
        &mut self,
        who: u64,
        messages: Vec<rtmp_proto::message::shared_object::SharedObjectMessage>,
    ) {
        for m in messages {
            assert!(m.version >= self.version, "client {who}: version went back");
            self.version = m.version;
            for event in m.events {
                match event {
                    SoEvent::Clear => self.view.clear(),
                    SoEvent::Change { key, value } => {
                        self.view.insert(key.to_string(), value);
                    }
                    SoEvent::Remove { key } => {
                        self.view.remove(key.as_ref() as &str);
                    }
                    SoEvent::Success { key } => {
                        let written = self
                            .written
                            .get_mut(key.as_ref() as &str)
                            .and_then(|q| q.pop_front())
                            .expect("a SUCCESS answers a write");
                        if written.is_null_or_undefined() {
                            self.view.remove(key.as_ref() as &str);
                        } else {
                            self.view.insert(key.to_string(), written);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The owner `a` applies a write made on `a` (`from_a`) or on the replica
/// `b`, and both get the published update (the writer's process with its
/// writer), or the writer the answer, as the node would carry them.
fn deliver(a: &mut World, b: &mut World, so: &SoKey, from_a: bool, write: ForwardedWrite) {
    let writer = write.writer;
    match a.forwarded(so, write) {
        WriteOutcome::Update { version, delta, .. } => {
            for (w, here) in [(&mut *a, from_a), (&mut *b, !from_a)] {
                w.apply(Input::ReplicaUpdate {
                    so: so.clone(),
                    version,
                    delta: delta.clone(),
                    writer: writer.filter(|_| here),
                });
            }
        }
        WriteOutcome::NoUpdate { answer } => {
            if let Some(client) = writer {
                let w = if from_a { &mut *a } else { &mut *b };
                w.apply(Input::WriteAnswered {
                    client,
                    so: so.clone(),
                    answer: WriterAnswer::Events(answer),
                });
            }
        }
    }
}

/// Seeded rounds of writes, removes, sends and server changes from
/// clients on the owner's process and a replica's, with the forwarding
/// done in order: at the end every client's view, the replica's state and
/// its version are the owner's.
#[test]
fn seeded_writes_from_both_processes_converge() {
    for seed in 1..=20u64 {
        let (mut a, mut b, so) = two_processes();
        a.connect(2, "app/room");
        a.use_so(2, "chat");
        a.drain();
        let mut rng = Rng::new(seed);
        let mut views: std::collections::BTreeMap<u64, ClientView> = [1, 2, 1001, 1002]
            .into_iter()
            .map(|c| {
                (
                    c,
                    ClientView {
                        version: 1,
                        ..ClientView::default()
                    },
                )
            })
            .collect();
        // Writes on their way to the owner, in order.
        let mut queue = std::collections::VecDeque::new();
        for _ in 0..200 {
            let client = *rng.pick(&[1u64, 2, 1001, 1002]);
            let on_a = client < 1000;
            let w = if on_a { &mut a } else { &mut b };
            let key = *rng.pick(&["x", "y", "z"]);
            match rng.below(10) {
                0..=5 => {
                    let value = match rng.below(4) {
                        0 => Value::Null,
                        n => Value::Number(n as f64),
                    };
                    views.get_mut(&client).unwrap().wrote(key, &value);
                    w.so(client, "chat", false, vec![request_change(key, value)]);
                }
                6 => w.so(client, "chat", false, vec![request_remove(key)]),
                7 => w.so(client, "chat", false, vec![send("ping", vec![])]),
                _ => w.set(&so, key, Value::Number(9.0)),
            }
            for (_, _, write) in forwarded(&mut a) {
                queue.push_back((true, write));
            }
            for (_, _, write) in forwarded(&mut b) {
                queue.push_back((false, write));
            }
            let due = if rng.chance(30) {
                queue.len()
            } else {
                rng.below(2)
            };
            for _ in 0..due {
                let Some((from_a, write)) = queue.pop_front() else {
                    break;
                };
                deliver(&mut a, &mut b, &so, from_a, write);
            }
            for (c, view) in views.iter_mut() {
                let messages = if *c < 1000 { a.take(*c) } else { b.take(*c) };
                view.receive(*c, messages);
            }
        }
        while let Some((from_a, write)) = queue.pop_front() {
            deliver(&mut a, &mut b, &so, from_a, write);
        }
        let owner: std::collections::BTreeMap<String, Value> = a
            .engine
            .view()
            .shared_object(&so)
            .unwrap()
            .attributes()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(b.version(&so), a.version(&so), "seed {seed}");
        for (c, view) in views.iter_mut() {
            let messages = if *c < 1000 { a.take(*c) } else { b.take(*c) };
            view.receive(*c, messages);
            assert_eq!(view.view, owner, "seed {seed}, client {c}");
            assert_eq!(
                Some(view.version),
                a.version(&so),
                "seed {seed}, client {c}"
            );
        }
        for k in ["x", "y", "z"] {
            assert_eq!(b.value(&so, k), a.value(&so, k), "seed {seed}");
        }
    }
}
