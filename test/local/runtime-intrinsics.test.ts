import { resolveIntrinsics, UnresolvableIntrinsicError, type ResolutionContext } from '../../local/intrinsics';

const resources: Record<string, { ref: string; attributes: Record<string, string> }> = {
  JobsTable: { ref: 'JobsTable', attributes: { Arn: 'arn:aws:dynamodb:eu-west-1:000000000000:table/JobsTable' } },
  JobQueue: {
    ref: 'http://sqs.eu-west-1.localhost:4566/000000000000/JobQueue',
    attributes: { Arn: 'arn:aws:sqs:eu-west-1:000000000000:JobQueue', QueueName: 'JobQueue' },
  },
  Worker: { ref: 'Worker', attributes: { Arn: 'arn:aws:lambda:eu-west-1:000000000000:function:Worker' } },
};

const ctx: ResolutionContext = {
  region: 'eu-west-1',
  accountId: '000000000000',
  stackName: 'Quarry',
  ref: (id) => resources[id]?.ref,
  getAtt: (id, attribute) => resources[id]?.attributes[attribute],
  parameters: { Stage: 'v1' },
  conditions: { IsEu: { 'Fn::Equals': [{ Ref: 'AWS::Region' }, 'eu-west-1'] }, IsUs: { 'Fn::Not': [{ Condition: 'IsEu' }] } },
  mappings: { Models: { 'eu-west-1': { Small: 'eu.haiku' } } },
};

const resolve = (value: unknown) => resolveIntrinsics(value, ctx);

describe('the intrinsic resolver', () => {
  it('resolves Ref to the local physical value: a table name, a queue URL', () => {
    expect(resolve({ Ref: 'JobsTable' })).toBe('JobsTable');
    expect(resolve({ Ref: 'JobQueue' })).toBe('http://sqs.eu-west-1.localhost:4566/000000000000/JobQueue');
  });

  it('resolves pseudo parameters to the local region, account, partition and stack', () => {
    expect(resolve([{ Ref: 'AWS::Region' }, { Ref: 'AWS::AccountId' }, { Ref: 'AWS::Partition' }, { Ref: 'AWS::StackName' }, { Ref: 'AWS::URLSuffix' }])).toEqual([
      'eu-west-1',
      '000000000000',
      'aws',
      'Quarry',
      'amazonaws.com',
    ]);
  });

  it('resolves Fn::GetAtt in both its list and its dotted string form', () => {
    expect(resolve({ 'Fn::GetAtt': ['JobQueue', 'Arn'] })).toBe('arn:aws:sqs:eu-west-1:000000000000:JobQueue');
    expect(resolve({ 'Fn::GetAtt': 'JobQueue.QueueName' })).toBe('JobQueue');
  });

  it('joins, selects and splits nested intrinsics as CloudFormation does', () => {
    const uri = {
      'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':apigateway:', { Ref: 'AWS::Region' }, ':lambda:path/2015-03-31/functions/', { 'Fn::GetAtt': ['Worker', 'Arn'] }, '/invocations']],
    };
    expect(resolve(uri)).toBe('arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:000000000000:function:Worker/invocations');
    expect(resolve({ 'Fn::Select': [5, { 'Fn::Split': [':', { 'Fn::GetAtt': ['JobsTable', 'Arn'] }] }] })).toBe('table/JobsTable');
    expect(resolve({ 'Fn::Select': ['1', ['a', 'b']] })).toBe('b');
  });

  it('substitutes ${Ref}, ${Resource.Attribute}, explicit variables and keeps ${!literal}', () => {
    expect(resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:sqs:${AWS::Region}:${AWS::AccountId}:${JobQueue.QueueName}' })).toBe('arn:aws:sqs:eu-west-1:000000000000:JobQueue');
    expect(resolve({ 'Fn::Sub': ['${Table}/index/${Index} ${!Literal}', { Table: { Ref: 'JobsTable' }, Index: 'byTenant' }] })).toBe('JobsTable/index/byTenant ${Literal}');
    expect(resolve({ 'Fn::Sub': 'stage ${Stage}' })).toBe('stage v1');
  });

  it('evaluates conditions in Fn::If and drops AWS::NoValue keys and list items', () => {
    expect(resolve({ 'Fn::If': ['IsEu', 'eu', 'other'] })).toBe('eu');
    expect(resolve({ 'Fn::If': ['IsUs', 'us', 'other'] })).toBe('other');
    expect(resolve({ A: 1, B: { 'Fn::If': ['IsUs', 'x', { Ref: 'AWS::NoValue' }] } })).toEqual({ A: 1 });
    expect(resolve(['a', { Ref: 'AWS::NoValue' }, 'b'])).toEqual(['a', 'b']);
  });

  it('reads mappings and encodes Base64', () => {
    expect(resolve({ 'Fn::FindInMap': ['Models', { Ref: 'AWS::Region' }, 'Small'] })).toBe('eu.haiku');
    expect(resolve({ 'Fn::Base64': 'hi' })).toBe('aGk=');
  });

  it('leaves plain values and objects untouched', () => {
    const plain = { VisibilityTimeout: 720, Tags: [{ Key: 'a', Value: 'b' }], Flag: true, Nothing: null };
    expect(resolve(plain)).toEqual(plain);
  });

  it('names the path and the resource it cannot resolve locally', () => {
    expect(() => resolveIntrinsics({ Variables: { X: { Ref: 'Missing' } } }, ctx)).toThrow(new UnresolvableIntrinsicError('$.Variables.X: Ref Missing has no local value'));
    expect(() => resolve({ 'Fn::GetAtt': ['JobQueue', 'Nope'] })).toThrow(/JobQueue\.Nope has no local value/);
    expect(() => resolve({ 'Fn::ImportValue': 'SharedVpc' })).toThrow(/Fn::ImportValue is not supported locally/);
    expect(() => resolve({ 'Fn::Select': [3, ['a']] })).toThrow(/out of range/);
  });
});
