import t from 'tap';
import {
  assertPublishable,
  commandTopic,
  deviceSubscriptions,
  filters,
  groupCommandTopic,
  liveTopic,
  manifestTopic,
  parseTopic,
  replyTopic,
  reportTopic,
  stateTopic,
  telemetryTopic,
} from '#protocol';

t.test('builders produce the documented layout', async (t) => {
  t.equal(manifestTopic('HN-00001'), 'lp/v1/dev/HN-00001/manifest');
  t.equal(commandTopic('HN-00001'), 'lp/v1/dev/HN-00001/cmd');
  t.equal(replyTopic('HN-00001'), 'lp/v1/dev/HN-00001/reply');
  t.equal(reportTopic('HN-00001'), 'lp/v1/dev/HN-00001/report');
  t.equal(telemetryTopic('HN-00001'), 'lp/v1/dev/HN-00001/telemetry');
  t.equal(stateTopic('HN-00001'), 'lp/v1/dev/HN-00001/state');
  t.equal(groupCommandTopic('001'), 'lp/v1/grp/001/cmd');
  t.equal(liveTopic('001'), 'lp/v1/grp/001/live');
});

t.test("a device subscribes to its own manifest, commands and storage receipts and its units' group channels", async (t) => {
  t.same(deviceSubscriptions('HN-00004', ['00004', '001']), [
    'lp/v1/dev/HN-00004/manifest',
    'lp/v1/dev/HN-00004/cmd',
    'lp/v1/dev/HN-00004/receipt',
    'lp/v1/grp/00004/cmd',
    'lp/v1/grp/00004/live',
    'lp/v1/grp/00004/plan',
    'lp/v1/grp/001/cmd',
    'lp/v1/grp/001/live',
    'lp/v1/grp/001/plan',
  ]);
  t.same(filters.server, ['lp/v1/dev/+/ack', 'lp/v1/dev/+/reply', 'lp/v1/dev/+/report', 'lp/v1/dev/+/telemetry', 'lp/v1/dev/+/state']);
});

t.test('an identifier carrying a wildcard or a separator is refused', async (t) => {
  for (const bad of ['+', '#', 'a/b', '', 'x'.repeat(65), 'HN 1']) {
    t.throws(() => manifestTopic(bad), { code: 'INVALID_TOPIC' }, `refuses "${bad}"`);
    t.throws(() => liveTopic(bad), { code: 'INVALID_TOPIC' });
  }
});

t.test('publishing to a wildcard topic is refused', async (t) => {
  t.throws(() => assertPublishable(filters.allReports), { code: 'INVALID_TOPIC' });
  t.throws(() => assertPublishable('lp/v1/#'), { code: 'INVALID_TOPIC' });
  t.equal(assertPublishable(reportTopic('A')), 'lp/v1/dev/A/report');
});

t.test('parseTopic inverts the builders and rejects everything else', async (t) => {
  t.same(parseTopic(reportTopic('HN-00004')), { scope: 'dev', id: 'HN-00004', channel: 'report' });
  t.same(parseTopic(stateTopic('x_1')), { scope: 'dev', id: 'x_1', channel: 'state' });
  t.same(parseTopic(liveTopic('001')), { scope: 'grp', id: '001', channel: 'live' });
  t.equal(parseTopic('lp/v2/dev/A/report'), null);
  t.equal(parseTopic('lp/v1/dev/A/unknown'), null);
  t.equal(parseTopic('lp/v1/grp/A/report'), null, 'reports are never group messages');
  t.equal(parseTopic('lp/v1/dev/A/report/extra'), null);
  t.equal(parseTopic(''), null);
});
