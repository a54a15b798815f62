"""GraphQL documents shared by several tests."""

CONTACT_RECORDS_NESTED = """
query Records($first: Int, $filter: ContactRecordFilterInput) {
  contactRecords(first: $first, filter: $filter) {
    totalCount
    edges {
      node {
        id uuid channel startedAt narrative riskLevel answers version
        tenant { name }
        client { id firstName lastName phone dateOfBirth }
        needs { code name }
        referrals { id status service { name organization { name } } outcomes { code } history { toStatus } }
        followUps { dueAt status }
      }
    }
  }
}
"""

SERVICE_SEARCH = """
query Search($filter: DirectoryFilterInput, $first: Int, $after: String, $sort: DirectorySort) {
  services(filter: $filter, first: $first, after: $after, sort: $sort) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor }
    edges { cursor node { id uuid name description tenant { name } organization { name } } }
  }
}
"""
