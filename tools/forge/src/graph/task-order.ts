interface OrderedTask {
  readonly project: string;
  readonly id: string;
  readonly needs: ReadonlyArray<{ readonly project: string; readonly id: string }>;
}

/** All variant tasks (conda or wheel), each after the tasks it needs (stable: by project, then variant). */
export function tasksInOrder<T extends OrderedTask>(graph: { readonly tasks: ReadonlyMap<string, readonly T[]> }): T[] {
  const all = [...graph.tasks.values()].flat().sort((a, b) => `${a.project}/${a.id}`.localeCompare(`${b.project}/${b.id}`));
  const done = new Set<string>();
  const order: T[] = [];
  while (order.length < all.length) {
    const before = order.length;
    for (const task of all) {
      const id = `${task.project}/${task.id}`;
      if (done.has(id) || !task.needs.every((n) => done.has(`${n.project}/${n.id}`))) continue;
      done.add(id);
      order.push(task);
    }
    // buildGraph rejects cycles between recipes; this guards against one inside a recipe.
    if (order.length === before) throw new Error('variant tasks form a cycle');
  }
  return order;
}
