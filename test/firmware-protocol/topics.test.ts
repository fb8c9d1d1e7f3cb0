import t from 'tap';
import { assertPublishable, filters, manifestTopic, parseTopic, reportTopic, stateTopic } from '#protocol';

t.test('builders produce the documented layout', async (t) => {
  t.equal(manifestTopic('HN-00001'), 'lp/v1/st/HN-00001/manifest');
  t.equal(reportTopic('HN-00001'), 'lp/v1/st/HN-00001/report');
  t.equal(stateTopic('HN-00001'), 'lp/v1/st/HN-00001/state');
});

t.test('a station code carrying a wildcard or a separator is refused', async (t) => {
  for (const bad of ['+', '#', 'a/b', '', 'x'.repeat(65), 'HN 1']) {
    t.throws(() => manifestTopic(bad), { code: 'INVALID_TOPIC' }, `refuses "${bad}"`);
  }
});

t.test('publishing to a wildcard topic is refused', async (t) => {
  t.throws(() => assertPublishable(filters.allReports), { code: 'INVALID_TOPIC' });
  t.throws(() => assertPublishable('lp/v1/#'), { code: 'INVALID_TOPIC' });
  t.equal(assertPublishable(reportTopic('A')), 'lp/v1/st/A/report');
});

t.test('parseTopic inverts the builders and rejects everything else', async (t) => {
  t.same(parseTopic(reportTopic('HN-00004')), { kind: 'report', station: 'HN-00004' });
  t.same(parseTopic(stateTopic('x_1')), { kind: 'state', station: 'x_1' });
  t.equal(parseTopic('lp/v2/st/A/report'), null);
  t.equal(parseTopic('lp/v1/st/A/unknown'), null);
  t.equal(parseTopic('lp/v1/st/A/report/extra'), null);
  t.equal(parseTopic(''), null);
});
