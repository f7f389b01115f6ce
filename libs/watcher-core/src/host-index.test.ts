import { hostsMatch } from '@skiff/model';
import { describe, expect, it } from 'vitest';
import { HostIndex } from './host-index.js';

describe('HostIndex', () => {
  const hosts = ['a.example.com', 'b.example.com', '*.example.com', '*.x.example.com', 'y.x.example.com', 'example.com', '*', 'a.example.org', '*.org'];
  const queries = [...hosts, 'z.example.com', '*.z.example.com', '*.com', 'com', '*.net', 'q.x.example.com'];

  it('finds exactly the ids whose hosts match the query (Name.Matches), as a walk over every id would', () => {
    const index = new HostIndex<string>();
    hosts.forEach((host, i) => index.set(`id${i}`, [host]));
    index.set('two', ['a.example.org', 'c.example.net']);
    const all: [string, readonly string[]][] = [...hosts.map((host, i): [string, string[]] => [`id${i}`, [host]]), ['two', ['a.example.org', 'c.example.net']]];
    for (const query of queries) {
      const walked = all.filter(([, names]) => names.some((host) => hostsMatch(host, query))).map(([id]) => id).sort();
      expect([...index.matching([query])].sort(), query).toEqual(walked);
    }
  });

  it('forgets the hosts an id was filed under when it is filed again or deleted', () => {
    const index = new HostIndex<string>();
    index.set('s', ['a.example.com']);
    index.set('s', ['b.example.com']);
    expect([...index.matching(['a.example.com'])]).toEqual([]);
    expect([...index.matching(['*.example.com'])]).toEqual(['s']);
    index.delete('s');
    expect([...index.matching(['*'])]).toEqual([]);
    expect(index.hosts('s')).toBeUndefined();
  });
});
